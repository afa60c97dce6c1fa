"""`bayesline diagnose`: which gap to work on next, from error rates typed in as percentages."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bayesline.console import checked_config
from evaluation.diagnosis import (
    GAP_KEYS,
    GAP_NAMES,
    STAGE_NAMES,
    Diagnosis,
    ErrorRate,
    Gap,
    MaterialityRule,
    diagnose,
)
from warehouse.config import config_path_from_env

TYPED_TRAIN = (
    "the examples you measured it on (--train, typed in: Bayesline cannot see which); measure "
    "it on the examples the model was fit on, from the distribution train-dev is drawn from"
)
JSON_DECIMALS = 9  # enough for any real rate; hides float noise such as 7.000000000000001


def _percent(value: float | None) -> float | None:
    """Reject a value outside [0, 100] with a message that says the unit."""
    if value is not None and not 0 <= value <= 100:
        raise typer.BadParameter(f"{value:g} is not a percentage: give 0 to 100 (e.g. 8 for 8%).")
    return value


def _count(value: int | None) -> int | None:
    if value is not None and value < 1:
        raise typer.BadParameter(f"{value} is not an example count: give a whole number >= 1.")
    return value


def _share(value: float | None) -> float | None:
    if value is not None and not 0 <= value <= 1:
        raise typer.BadParameter(f"{value:g} is not a share: give 0 to 1 (0.5 for half).")
    return value


def _percent_option(flag: str, help: str):
    return typer.Option(flag, help=f"{help} error, in percent.", callback=_percent)


def _count_option(flag: str, stage: str):
    return typer.Option(flag, help=f"Examples the {stage} error was measured on.", callback=_count)


def diagnose_command(
    human: Annotated[float, _percent_option("--human", "Human-level")],
    train: Annotated[float | None, _percent_option("--train", "Training-set")] = None,
    dev: Annotated[float | None, _percent_option("--dev", "Dev-set")] = None,
    train_dev: Annotated[float | None, _percent_option("--train-dev", "Train-dev")] = None,
    test: Annotated[float | None, _percent_option("--test", "Test-set")] = None,
    n_human: Annotated[int | None, _count_option("--n-human", "human-level")] = None,
    n_train: Annotated[int | None, _count_option("--n-train", "train")] = None,
    n_train_dev: Annotated[int | None, _count_option("--n-train-dev", "train-dev")] = None,
    n_dev: Annotated[int | None, _count_option("--n-dev", "dev")] = None,
    n_test: Annotated[int | None, _count_option("--n-test", "test")] = None,
    share: Annotated[
        float | None,
        typer.Option(
            "--material-gap-share",
            help="A gap is a problem when at least this share of the largest; default: "
            "[evaluation] material_gap_share of bayesline.toml when there is one, else 0.5.",
            callback=_share,
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Say which gap to work on next: avoidable bias, variance, data mismatch or dev overfitting.

    Errors are percentages (--human 1 --train 8 --dev 10); counts (--n-train ...) add noise tests.
    Any of --train, --train-dev, --dev and --test may be left out: the gaps they allow are shown.
    """
    if all(e is None for e in (train, train_dev, dev, test)):
        raise typer.BadParameter(
            "give at least one of --train, --train-dev, --dev or --test (in percent)"
        )
    _warn_if_fractions(human, train, dev, train_dev, test)
    diagnosis = diagnose(
        human_level=ErrorRate(human / 100, n_human),
        train=_rate(train, n_train),
        dev=_rate(dev, n_dev),
        train_dev=_rate(train_dev, n_train_dev),
        test=_rate(test, n_test),
        human_level_source="typed in",
        rule=_rule(share),
        train_measured_on=None if train is None else TYPED_TRAIN,
    )
    if json_output:
        typer.echo(json.dumps(to_percent_dict(diagnosis), ensure_ascii=False, indent=2))
    else:
        print_diagnosis(diagnosis, Console())


def _rule(share: float | None) -> MaterialityRule:
    """The configured rule (a config is optional here), with this share when one is given."""
    rule = (
        MaterialityRule.from_config(checked_config().evaluation)
        if config_path_from_env().is_file()
        else MaterialityRule()
    )
    return rule if share is None else replace(rule, relative_share=share)


def _rate(percent: float | None, n: int | None) -> ErrorRate | None:
    return None if percent is None else ErrorRate(percent / 100, n)


def _warn_if_fractions(*percents: float | None) -> None:
    given = [p for p in percents if p is not None]
    # 0.08 meaning 8% is the likeliest slip; a real all-under-1% model is rare enough to ask.
    if any(given) and all(p <= 1 for p in given):
        Console(stderr=True).print(
            "[yellow]note:[/] every error is at most 1: errors are percentages "
            "(8 means 8%), not fractions."
        )


def to_percent_dict(diagnosis: Diagnosis) -> dict:
    """The diagnosis with rates and gaps in percent, as `--json` prints it."""
    gaps = {g.key: g for g in diagnosis.gaps}
    target = diagnosis.target_in_train
    return {
        "errors": {
            stage: None if e is None else _pct(e.rate) for stage, e in diagnosis.errors.items()
        },
        "counts": {stage: None if e is None else e.n for stage, e in diagnosis.errors.items()},
        "gaps": {key: _pct(gaps[key].value) if key in gaps else None for key in GAP_KEYS},
        "gap_details": [_gap_detail(g) for g in diagnosis.gaps],
        "interval_level": diagnosis.interval_level,
        "problems": list(diagnosis.problems),
        "remedies": {k: list(v) for k, v in diagnosis.remedies.items()},
        "caveats": list(diagnosis.caveats),
        "predicted_on": diagnosis.stages_measured,
        "not_assessed": dict(diagnosis.not_assessed),
        "human_level_source": diagnosis.human_level_source,
        "rule": diagnosis.rule,
        "train_measured_on": diagnosis.train_measured_on,
        "target_in_train": None if target is None else {"error": _pct(target.rate), "n": target.n},
    }


def _gap_detail(gap: Gap) -> dict:
    detail = gap.to_dict()
    detail["value"] = _pct(gap.value)
    detail["interval"] = [_pct(x) for x in gap.interval] if gap.interval else None
    return detail


def _pct(fraction: float) -> float:
    return round(fraction * 100, JSON_DECIMALS)


def print_diagnosis(diagnosis: Diagnosis, console: Console) -> None:
    """Errors, gaps with verdicts, problems with remedies, then caveats and the rule."""
    level = f"{diagnosis.interval_level * 100:g}%"
    console.print(_errors_table(diagnosis, level))
    if diagnosis.train_measured_on:
        console.print(f"Train error: on {diagnosis.train_measured_on}.")
    console.print(_gaps_table(diagnosis, level))
    _print_problems(diagnosis, console)
    for key, todo in diagnosis.not_assessed.items():
        console.print(f"[yellow]not assessed:[/] {GAP_NAMES[key]}: {todo}")
    for caveat in diagnosis.caveats:
        console.print(f"[yellow]caveat:[/] {caveat}")
    console.print(f"[dim]Rule: {diagnosis.rule}[/]")


def _errors_table(diagnosis: Diagnosis, level: str) -> Table:
    source = diagnosis.human_level_source
    table = Table(title=f"Error rates (human-level: {source})")
    for column in ("Stage", "Error", "n", f"{level} interval"):
        table.add_column(column, justify="left" if column == "Stage" else "right")
    for stage, error in diagnosis.errors.items():
        if error is None:
            table.add_row(STAGE_NAMES[stage], "-", "", "not given")
            continue
        interval = error.interval(diagnosis.interval_level)
        n = f"{error.n:,}" if error.n else ""
        table.add_row(STAGE_NAMES[stage], _fmt(error.rate), n, _fmt_interval(interval))
    return table


def _gaps_table(diagnosis: Diagnosis, level: str) -> Table:
    table = Table(title="Gaps (percentage points)", expand=True)
    table.add_column("Gap", ratio=2)
    table.add_column("Size", justify="right", no_wrap=True)
    table.add_column(f"{level} interval", justify="right", no_wrap=True)
    table.add_column("Material", justify="center", no_wrap=True)
    table.add_column("Why", ratio=3)
    for gap in diagnosis.gaps:
        mark = "[green]✓[/]" if gap.material else "[red]✗[/]"
        table.add_row(gap.label, _fmt_points(gap.value), _fmt_points(gap.interval), mark, gap.why)
    return table


def _print_problems(diagnosis: Diagnosis, console: Console) -> None:
    if not diagnosis.problems:
        console.print("[bold]No material gap:[/] nothing stands out to work on next.")
        return
    console.print("[bold]Work on, in this order:[/]")
    labels = {g.key: g.label for g in diagnosis.gaps}
    for rank, key in enumerate(diagnosis.problems, start=1):
        console.print(f" {rank}. [bold]{labels[key]}[/]")
        for remedy in diagnosis.remedies[key]:
            console.print(f"    - {remedy}")


def _fmt(fraction: float) -> str:
    return f"{fraction * 100:.2f}%"


def _fmt_points(value: float | tuple[float, float] | None) -> str:
    """A gap or its interval in percentage points, e.g. '+7.00' or '-1.14 to +5.27'."""
    if value is None:
        return "-"
    if isinstance(value, tuple):
        return f"{_fmt_points(value[0])} to {_fmt_points(value[1])}"
    return f"{value * 100:+.2f}"


def _fmt_interval(interval: tuple[float, float] | None) -> str:
    return "-" if interval is None else f"{_fmt(interval[0])} to {_fmt(interval[1])}"
