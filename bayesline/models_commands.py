"""`bayesline compare` and `bayesline models list|promote`: model versions against each other
and the champion."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from bayesline.console import checked_config, console, fail
from evaluation.champion import PromotionRefused, champion_history, current_champion, promote
from evaluation.comparison import (
    Comparison,
    ComparisonError,
    ComparisonRow,
    compare_models,
    resolve_model,
    slice_name,
    verdict_words,
)
from evaluation.diagnosis import GAP_NAMES
from warehouse.catalog import open_reader, refresh_catalog
from warehouse.layout import WarehouseLayout
from warehouse.versions import parse_version

models_app = typer.Typer(help="Model versions and the champion.", no_args_is_help=True)
SHOWN_ROWS = 20


def _context():
    return WarehouseLayout.from_env(), checked_config()


def _version(text: str | None) -> int | None:
    return parse_version(text) if text else None


def compare_command(
    model_a: Annotated[str, typer.Argument(help="The reference, e.g. the champion.")],
    model_b: Annotated[str, typer.Argument(help="The challenger, judged against model_a.")],
    split_version: Annotated[
        str | None,
        typer.Option("--split-version", "-s", help="Compare both on this split version."),
    ] = None,
    all_rows: Annotated[bool, typer.Option("--all", help="Show every split and slice.")] = False,
) -> None:
    """Paired comparison of MODEL_B against MODEL_A on the examples both predicted."""
    layout, config = _context()
    version = _version(split_version)
    try:
        a = resolve_model(layout, model_a, version)
        b = resolve_model(layout, model_b, version)
        comparison = compare_models(layout, config, a, b)
    except ComparisonError as exc:
        raise fail(str(exc)) from exc
    refresh_catalog(layout, config)
    print_comparison(comparison, None if all_rows else SHOWN_ROWS)


def print_comparison(comparison: Comparison, limit: int | None) -> None:
    """What was compared, the verdict, the per-slice table (significant first), gap changes."""
    a, b = comparison.a, comparison.b
    console.print(
        f"[bold]{b.label}[/] against [bold]{a.label}[/]: "
        f"{comparison.n_compared:,} examples compared on both"
    )
    for reason, count in comparison.left_out.items():
        console.print(f"  left out {count:,}: {reason}")
    console.print(f"Verdict on dev and test: [bold]{comparison.verdict}[/]")
    table = Table(title=f"Error of {b.model_version} minus {a.model_version} (pp)")
    for column in ("split", "slice", "n", "A error", "B error", "B - A", "95% interval"):
        table.add_column(column, justify="left" if column in ("split", "slice") else "right")
    table.add_column("p (Holm)", justify="right")
    table.add_column("verdict")
    rows = comparison.rows if limit is None else comparison.rows[:limit]
    for r in rows:
        table.add_row(*_cells(r))
    console.print(table)
    if limit is not None and len(comparison.rows) > limit:
        console.print(f"[dim]{len(comparison.rows) - limit} more rows: --all shows them[/]")
    changes = [
        f"{GAP_NAMES[k].lower()} {_pp(v)}"
        for k, v in comparison.gap_changes.items()
        if v is not None
    ]
    if changes:
        console.print("Change in each diagnosis gap (B - A): " + ", ".join(changes))


def _cells(r: ComparisonRow) -> list[str]:
    where = slice_name(r).split(": ", 1)[1]
    return [
        r["split"],
        where,
        f"{r['n']:,}",
        f"{100 * r['a_error_rate']:.2f}%",
        f"{100 * r['b_error_rate']:.2f}%",
        _pp(r["difference"]),
        f"{_pp(r['ci_low'])} to {_pp(r['ci_high'])}",
        "< 0.001" if r["p_adjusted"] < 0.001 else f"{r['p_adjusted']:.3f}",
        verdict_words(r),
    ]


def _pp(value: float) -> str:
    return f"{100 * value:+.2f}"


@models_app.command("list")
def models_list() -> None:
    """Registered model versions, the champion, and the champion's history."""
    layout, config = _context()
    champion = current_champion(layout, config)
    with open_reader(layout, config) as con:
        rows = con.execute(
            "SELECT model_version, split_version, min(registered_at), count(*) FROM predictions "
            "GROUP BY ALL ORDER BY min(registered_at), model_version"
        ).fetchall()
    # The first registered model version is champion until a promotion: None means no rows.
    if not rows or champion is None:
        console.print("No model version registered yet: `bayesline predictions add`.")
        return
    table = Table(title="Model versions")
    for column in ("model version", "split version", "registered (UTC)", "predictions", ""):
        table.add_column(column)
    for model, version, registered, n in rows:
        mark = (
            "champion"
            if champion
            and (model, version)
            == (
                champion.model_version,
                champion.split_version,
            )
            else ""
        )
        table.add_row(model, f"v{version}", f"{registered:%Y-%m-%d %H:%M}", f"{n:,}", mark)
    console.print(table)
    history = champion_history(layout, config)
    if not history:
        console.print(f"Champion: {champion.label} (the first registered; none promoted yet)")
        return
    past = Table(title="Champion history")
    for column in ("since (UTC)", "model version", "split version", "forced", "note"):
        past.add_column(column)
    for h in history:
        past.add_row(
            f"{h['since']:%Y-%m-%d %H:%M:%S}",
            h["model_version"],
            f"v{h['split_version']}",
            "yes" if h["forced"] else "no",
            h["note"],
        )
    console.print(past)


@models_app.command("promote")
def models_promote(
    model_version: Annotated[str, typer.Argument(help="The challenger to make champion.")],
    split_version: Annotated[
        str | None, typer.Option("--split-version", "-s", help="Default: its newest.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Promote past a failed gate (recorded as forced).")
    ] = False,
) -> None:
    """Make MODEL_VERSION the champion if it does not regress the current one."""
    layout, config = _context()
    try:
        record = promote(layout, config, model_version, _version(split_version), force)
    except (PromotionRefused, ComparisonError) as exc:
        raise fail(str(exc)) from exc
    refresh_catalog(layout, config)
    forced = " [yellow](forced)[/]" if record["forced"] else ""
    console.print(
        f"{record['model_version']} (v{record['split_version']}) is the champion{forced}: "
        f"{record['note']}"
    )
