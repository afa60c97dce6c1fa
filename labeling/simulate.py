"""SIMULATED annotators, for the demo and the tests only: never mistake them for people.

Each simulated annotator is a real Label Studio account (so the UI, the overlap and every
per-annotator figure treat it as a separate person) with an address at SIMULATED_DOMAIN and no
password, so nobody can log in as it. The admin's client posts its annotations with
`completed_by` set to that account: per-user API tokens would need passwords to mint. Every
result it posts carries `meta.bayesline_simulated = true`, which the sync reads back.

An annotator with error rate r gives the gold label with probability 1 - r, otherwise one of the
other labels, uniformly. The draw for (seed, annotator, example) is the same on every run and in
any order. Label Studio Community has no bulk annotation endpoint, so each annotation is one
request; a deterministic `unique_id` per (project, task, annotator) makes a rerun create nothing
twice.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from label_studio_sdk.core.api_error import ApiError

from labeling.tasks import NO_SDK_RETRIES, PAGE_SIZE

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio

SIMULATED_DOMAIN = "simulated.bayesline.invalid"  # .invalid: never a real mailbox
SIMULATED_META_KEY = "bayesline_simulated"
_UNIQUE_IDS = uuid.UUID("6f1d3c1e-5b1a-4f55-9a59-b2f1a8d0c0de")  # namespace for uuid5


def simulated_email(name: str) -> str:
    """The address of the simulated annotator `name` (its `annotator` in human_annotations)."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.")
    if not slug:
        raise ValueError(f"cannot make an account name from annotator name {name!r}")
    return f"{slug}@{SIMULATED_DOMAIN}"


def is_simulated(result: Sequence[Mapping[str, Any]], annotator: str | None) -> bool:
    """Whether an annotation came from this module: its result's mark, or its account."""
    marked = any((item.get("meta") or {}).get(SIMULATED_META_KEY) for item in result)
    return marked or bool(annotator and annotator.endswith(f"@{SIMULATED_DOMAIN}"))


def simulated_label(gold: str, labels: Sequence[str], error_rate: float, rng: random.Random) -> str:
    """The gold label, or with probability `error_rate` another label chosen uniformly."""
    others = [label for label in labels if label != gold]
    return rng.choice(others) if others and rng.random() < error_rate else gold


def _validate(gold: Mapping[str, str], labels: Sequence[str], rates: Mapping[str, float]) -> None:
    if len(set(labels)) < 2:
        raise ValueError("simulated annotators need at least two labels to err between")
    unknown = sorted({label for label in gold.values() if label not in labels})
    if unknown:
        raise ValueError(f"gold labels outside the label set: {', '.join(unknown)}")
    for name, rate in rates.items():
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"error rate of simulated annotator {name!r} must be in [0, 1]")


def simulated_users(client: LabelStudio, names: Sequence[str]) -> dict[str, int]:
    """name -> Label Studio user id of each simulated annotator, created when missing."""
    by_email = {(u.email or "").lower(): int(u.id) for u in client.users.list()}
    ids = {}
    for name in names:
        email = simulated_email(name)
        if email not in by_email:
            user = client.users.create(
                username=f"simulated-{email.split('@')[0]}",
                email=email,
                first_name=name,
                last_name="(simulated)",
            )
            by_email[email] = int(user.id)
        ids[name] = by_email[email]
    return ids


def _choices_tag(client: LabelStudio, project_id: int) -> tuple[str, str]:
    """(from_name, to_name) of the project's Choices tag, as its results must name them."""
    # The SDK's get_label_interface has no annotations (a third-party gap).
    interface = client.projects.get(project_id).get_label_interface()  # type: ignore[no-untyped-call]
    for control in interface.controls:
        if control.tag.lower() == "choices":
            return control.name, control.to_name[0]
    raise ValueError(f"project {project_id} has no Choices tag to simulate labels for")


def _result(from_name: str, to_name: str, label: str) -> list[dict[str, Any]]:
    return [
        {
            "from_name": from_name,
            "to_name": to_name,
            "type": "choices",
            "value": {"choices": [label]},
            "meta": {SIMULATED_META_KEY: True},
        }
    ]


def _post(
    client: LabelStudio, task_id: int, user_id: int, result: list[dict[str, Any]], lead_time: float
) -> bool:
    """Create one annotation; False when this (task, annotator) already has it."""
    unique_id = uuid.uuid5(_UNIQUE_IDS, f"{task_id}/{user_id}")  # task ids are server-wide
    try:
        client.annotations.create(
            task_id,
            result=result,
            completed_by=user_id,
            lead_time=lead_time,
            unique_id=str(unique_id),
            request_options=NO_SDK_RETRIES,  # the SDK would retry a 409 for a second
        )
    except ApiError as exc:
        if exc.status_code == 409:
            return False
        raise
    return True


def simulate_annotations(
    client: LabelStudio,
    project_id: int,
    gold: Mapping[str, str],
    labels: Sequence[str],
    error_rates: Mapping[str, float],
    seed: int = 0,
) -> int:
    """Post one SIMULATED annotation per annotator per task whose example is in `gold`.

    Returns the number created; tasks an annotator already labelled are left alone.
    """
    _validate(gold, labels, error_rates)
    names = sorted(error_rates)
    users = simulated_users(client, names)
    from_name, to_name = _choices_tag(client, project_id)
    created = 0
    tasks: Iterable[Any] = client.tasks.list(project=project_id, fields="all", page_size=PAGE_SIZE)
    for task in tasks:
        example_id = str((task.data or {}).get("example_id"))
        if example_id not in gold:
            continue
        done = {_author(a) for a in task.annotations or []}
        for name in names:
            if users[name] in done:
                continue
            rng = random.Random(f"{seed}/{name}/{example_id}")  # str seeds hash with sha512
            label = simulated_label(gold[example_id], labels, error_rates[name], rng)
            lead_time = round(rng.uniform(2.0, 20.0), 1)
            result = _result(from_name, to_name, label)
            created += _post(client, int(task.id), users[name], result, lead_time)
    return created


def _author(annotation: Any) -> int | None:
    """The user id in an annotation's `completed_by` (an id, or an expanded user)."""
    user = annotation.get("completed_by") if isinstance(annotation, dict) else None
    if isinstance(user, dict):
        user = user.get("id")
    return int(user) if user is not None else None
