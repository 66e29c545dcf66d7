"""Named queries on a small hand-built store: the numbers of Figs. 7-10, bound parameters,
analyst SQL refusals, and the report."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analytics.queries import QueryError, registry, run_query, run_readonly_sql, run_sql_tests
from analytics.store import AnalyticsStore, connect_readonly
from tests.test_analytics_store import jsonl, session

ZIGZAG = [[100 + (300 if k % 2 else 0), 100 + 20 * k] for k in range(12)]  # back and forth


def _frame(stage: str, idx: int, inputs_per_iter: list[list[dict]]) -> dict:
    return {"frame_index": idx, "stage": stage,
            "iterations": [{"index": k, "inputs": inp} for k, inp in enumerate(inputs_per_iter)]}


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("q")
    click = {"kind": "click", "x": 10, "y": 10}
    line = {"kind": "stroke", "points": [[100, 100], [300, 150]], "radius": 3}
    hl = {"kind": "stroke", "points": ZIGZAG, "radius": 10}
    docs = [
        session("a", iters=1, user="u1", created="2026-03-01T10:00:00Z"),
        session("b", iters=4, user="u1", created="2026-03-01T23:00:00Z", refine=2),
        session("c", user="u2", created="2026-03-02T08:00:00Z",
                frames=[_frame("first_frame", 0, [[line], [line, click], [line]])]),
        session("d", user="u2", created="2026-03-02T09:00:00+02:00", source="simulated",
                frames=[_frame("first_frame", 0, [[hl], [hl], [click]] + [[click]] * 1)]),
    ]
    logs = jsonl(root / "s.jsonl", [json.dumps(d) for d in docs])
    path = root / "a.duckdb"
    with AnalyticsStore(path, workers=1) as st:
        st.load([logs])
        st.load_sequence_stats(pd.DataFrame({
            "dataset": ["davis"] * 4, "sequence": ["s1", "s2", "s3", "s4"],
            "consecutive_iou_mean": [0.9, 0.8, 0.7, 0.6]}))
        # the §4.2 estimate, as `ivos simulate difficulty --db` stores it
        from analytics.difficulty import flow_sequence_stats

        st.load_sequence_stats(flow_sequence_stats(pd.DataFrame({
            "sequence": ["s1", "s2", "s3", "s4"], "n_frames": [5, 5, 5, 5], "score": [1.0, 2.0, 4.0, 3.0],
            "mean_flow_magnitude": [0.01, 0.02, 0.04, 0.03], "flow_mask_iou": [0.95, 0.7, 0.75, 0.5]})))
        run = root / "run"
        run.mkdir()
        (run / "summary.json").write_text(json.dumps({"dataset": "davis", "method": "osvos", "run_id": "r1"}))
        pq.write_table(pa.table({"sequence": ["s1", "s2", "s3", "s4"], "J_mean": [0.85, 0.8, 0.6, 0.55]}),
                       run / "items.parquet")
        st.load_eval_results([run])
        jobs = [{"session_id": s, "model_version": v, "runtime_s": r, "status": "ok" if r < 9 else "failed"}
                for s, v, r in (("a", "v1", 2.0), ("b", "v1", 4.0), ("a", "v2", 1.0), ("b", "v2", 9.5))]
        st.load_job_results([jsonl(root / "jobs.jsonl", [json.dumps(j) for j in jobs])])
    return path


@pytest.fixture
def con(db: Path):
    c = connect_readonly(db)
    yield c
    c.close()


def test_registry_lists_the_paper_queries() -> None:
    names = set(registry())
    assert {"first_frame_iterations", "refinement_iterations", "refine_share", "annotation_pattern",
            "osvos_difficulty", "activity", "model_comparison"} <= names


def test_refine_share_is_one_quarter(con) -> None:
    r = run_query(con, "refine_share").iloc[0]
    assert (r["n_sessions"], r["n_refining_sessions"], r["refine_share"]) == (4, 1, 0.25)
    assert run_query(con, "refine_share", {"source": "simulated"}).iloc[0]["n_sessions"] == 1


def test_first_frame_histogram_and_median(con) -> None:
    df = run_query(con, "first_frame_iterations")
    assert dict(zip(df["n_iterations"], df["n_frames"])) == {1: 1, 3: 1, 4: 2}
    assert df["median_iterations"].iloc[0] == 3.5 and df["total_frames"].iloc[0] == 4


def test_refinement_histogram(con) -> None:
    df = run_query(con, "refinement_iterations")
    assert df[["n_iterations", "n_frames"]].values.tolist() == [[3, 2]]
    assert df["median_iterations"].iloc[0] == 3


def test_annotation_patterns(con) -> None:
    per = run_query(con, "session_patterns").set_index("session_id")["pattern"].to_dict()
    assert per == {"a": "clicks", "b": "clicks", "c": "strokes", "d": "highlighting"}
    shares = run_query(con, "annotation_pattern").set_index("pattern")["share"].to_dict()
    assert shares == {"clicks": 0.5, "strokes": 0.25, "highlighting": 0.25}
    # the rule is parametric: an impossible tortuosity turns the scribbles into plain strokes
    per2 = run_query(con, "session_patterns", {"highlight_min_tortuosity": 1e9, "highlight_min_ink_frac": 1.0})
    assert per2.set_index("session_id").loc["d", "pattern"] == "strokes"


def test_osvos_difficulty_pearson(con) -> None:
    df = run_query(con, "osvos_difficulty")
    assert len(df) == 4
    expected = pd.Series([0.9, 0.8, 0.7, 0.6]).corr(pd.Series([0.85, 0.8, 0.6, 0.55]))
    assert df["pearson_r"].iloc[0] == pytest.approx(expected)
    assert run_query(con, "osvos_difficulty", {"method": "nothing"}).empty
    flow = run_query(con, "osvos_difficulty", {"stats_kind": "flow"})
    j = pd.Series([0.85, 0.8, 0.6, 0.55])
    assert flow.set_index("sequence").loc["s3", "difficulty"] == 4.0
    assert flow["pearson_r_difficulty"].iloc[0] == pytest.approx(pd.Series([1.0, 2.0, 4.0, 3.0]).corr(j))
    assert flow["pearson_r"].iloc[0] == pytest.approx(pd.Series([0.95, 0.7, 0.75, 0.5]).corr(j))


def test_activity_per_user_per_utc_day(con) -> None:
    df = run_query(con, "activity")
    got = {(r.user_id, str(pd.Timestamp(r.day).date())): r.n_sessions for r in df.itertuples()}
    # d was created 09:00+02:00 = 07:00 UTC on 2026-03-02
    assert got == {("u1", "2026-03-01"): 2, ("u2", "2026-03-02"): 2}


def test_model_comparison(con) -> None:
    df = run_query(con, "model_comparison").set_index("model_version")
    assert df.loc["v1", "n_jobs"] == 2 and df.loc["v1", "success_rate"] == 1.0
    assert df.loc["v2", "success_rate"] == 0.5 and df.loc["v1", "median_runtime_s"] == 3.0


def test_sql_column_tests_pass(con) -> None:
    assert run_sql_tests(con) == {}


def test_injection_in_bound_parameter_is_harmless(db: Path, con) -> None:
    evil = "all' or 1=1; drop table sessions; --"
    df = run_query(con, "refine_share", {"source": evil})
    assert df.iloc[0]["n_sessions"] == 0
    assert run_query(con, "refine_share").iloc[0]["n_sessions"] == 4


def test_unknown_query_and_parameter_refused(con) -> None:
    with pytest.raises(QueryError):
        run_query(con, "no_such_query")
    with pytest.raises(QueryError):
        run_query(con, "refine_share", {"sourcee": "all"})


@pytest.mark.parametrize("sql", [
    "insert into sessions select * from sessions",
    "delete from sessions",
    "drop table sessions",
    "attach 'other.duckdb' as o",
    "copy sessions to 'x.csv'",
    "install httpfs",
    "load httpfs",
    "pragma version",
    "set threads = 1",
    "export database 'x'",
    "create table t as select 1",
    "select 1; delete from sessions",
])
def test_readonly_sql_refuses_writes(db: Path, sql: str) -> None:
    with pytest.raises(QueryError):
        run_readonly_sql(db, sql)


def test_readonly_sql_reads_but_no_files(db: Path) -> None:
    assert run_readonly_sql(db, "select count(*) as n from inputs")["n"].iloc[0] > 0
    with pytest.raises(Exception):
        run_readonly_sql(db, "select * from read_csv('/etc/hostname')")


def test_report_writes_figures_and_html(db: Path, tmp_path: Path) -> None:
    from analytics.report import write_report

    html = write_report(db, tmp_path / "rep")
    pngs = {p.name for p in (tmp_path / "rep").glob("*.png")}
    assert {"fig7_patterns.png", "fig8_first_frame.png", "fig9_refinement.png", "fig10_difficulty.png",
            "fig10b_flow_difficulty.png", "activity.png"} <= pngs
    text = html.read_text()
    assert text.count("data:image/png;base64,") >= 6 and "simulated" in text and "recorded" in text
    assert "Difficulty estimate" in text and "pearson_r_difficulty" in text


def test_cli_load_query_sql(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from flows.cli_analytics import analytics_app

    runner = CliRunner()
    logs = tmp_path / "g.jsonl"
    r = runner.invoke(analytics_app, ["generate", "--n", "50", "--out", str(logs)])
    assert r.exit_code == 0, r.output
    dbp = tmp_path / "c.duckdb"
    r = runner.invoke(analytics_app, ["load", str(logs), "--db", str(dbp), "--workers", "1"])
    assert r.exit_code == 0 and "50" in r.output, r.output
    r = runner.invoke(analytics_app, ["query", "refine_share", "--db", str(dbp), "--param", "source=simulated",
                                      "--format", "json"])
    assert r.exit_code == 0 and '"n_sessions":50' in r.output.replace(" ", ""), r.output
    r = runner.invoke(analytics_app, ["sql", "delete from sessions", "--db", str(dbp)])
    assert r.exit_code == 2
    r = runner.invoke(analytics_app, ["check", "--db", str(dbp)])
    assert r.exit_code == 0, r.output
