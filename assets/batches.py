"""Deciding about a blocking batch from the Dagster UI: the job behind `bayesline batches`."""

from enum import Enum

import dagster as dg
from pydantic import Field

from assets.resources import BayeslineResource
from warehouse.batch_decisions import record_batch_decision
from warehouse.catalog import refresh_catalog


class BatchDecision(Enum):
    exclude = "exclude"
    accept = "accept"


class BatchDecisionConfig(dg.Config):
    """What to decide about one ingested batch, and why (filled in on the Launchpad)."""

    file: str = Field(description="The landing file: its path, its name, or its file id.")
    decision: BatchDecision = Field(
        description="exclude: keep its rows out of the next split versions; accept: let its "
        "good rows in despite the reject rate."
    )
    reason: str = Field(description="Why; kept with the decision in batch_decisions.")
    decided_by: str = Field(description="Who decides (Dagster OSS does not know users).")


@dg.op(description="Record a decision about a batch the quality gate blocked.")
def decide_about_batch(
    context: dg.OpExecutionContext, config: BatchDecisionConfig, bayesline: BayeslineResource
) -> None:
    layout, settings = bayesline.layout(), bayesline.config()
    outcome = record_batch_decision(
        layout, config.file, config.decision.value, config.reason, decided_by=config.decided_by
    )
    refresh_catalog(layout, settings)
    context.log.info(outcome.message)


@dg.job(
    name="bayesline_batch_decision",
    description="Exclude a blocking batch from the next split versions, or accept its good "
    "rows (the same as `bayesline batches exclude|accept FILE --reason ...`); then "
    "materialise the pipeline again.",
)
def batch_decision_job():
    decide_about_batch()
