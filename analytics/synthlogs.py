"""Fast synthetic session logs for tests and scale benchmarks (no model, no video decoding).

Everything is drawn with numpy in flat arrays (sessions, frames, iterations, inputs, stroke
vertices) and assembled into JSON documents by DuckDB (``json_object`` / ``json_group_array``,
``sql/synth/documents.sql``),
so a million sessions take seconds, not the minutes a Python loop would.

The behaviour is plausible, not measured: three user types — click users (55%), stroke users
(30%), highlighters (15%) — matching the three patterns of Fig. 7; iterations per frame are
1 + Poisson(3) (median 4, as Figs. 8-9); 15% of sessions refine 1-3 frames after propagation
(§4.1). Every document has ``source = "simulated"`` and validates against the session schema.
The behaviour simulator that runs the real interactive model is a separate module (issue 6,
item 4); this generator only feeds the store.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from analytics.sqlfiles import read_sql

PATTERNS = ("clicks", "strokes", "highlighting")
SIZES = np.array([[854, 480], [1280, 720], [720, 1280], [640, 480]])


@dataclass(frozen=True)
class SynthConfig:
    n_sessions: int = 1000
    seed: int = 0
    n_users: int | None = None  # default: n_sessions // 20 + 1
    n_days: int = 180
    start: str = "2026-01-01"
    pattern_probs: tuple[float, float, float] = (0.55, 0.30, 0.15)
    refine_share: float = 0.15
    mean_extra_iterations: float = 3.0


def _within(counts: np.ndarray) -> np.ndarray:
    """0..count-1 for each group, concatenated (the vectorised inner loop index)."""
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total) - starts


def generate_tables(cfg: SynthConfig) -> dict[str, pa.Table]:
    """Flat Arrow tables (sessions, frames, iterations, inputs, points) of the synthetic logs."""
    rng = np.random.default_rng(cfg.seed)
    n = cfg.n_sessions
    n_users = cfg.n_users or n // 20 + 1
    # sessions
    pattern = rng.choice(3, size=n, p=np.asarray(cfg.pattern_probs) / sum(cfg.pattern_probs))
    size = SIZES[rng.integers(0, len(SIZES), n)]
    w, h = size[:, 0], size[:, 1]
    n_video_frames = rng.integers(30, 200, n)
    user = np.minimum((rng.pareto(1.2, n) * n_users / 10).astype(np.int64), n_users - 1)
    created_us = (rng.integers(0, cfg.n_days * 86_400, n) * 1_000_000).astype(np.int64)
    refines = rng.random(n) < cfg.refine_share
    n_frames = 1 + refines * rng.integers(1, 4, n)
    cx = w * rng.uniform(0.3, 0.7, n)
    cy = h * rng.uniform(0.3, 0.7, n)
    obj = np.minimum(w, h) * rng.uniform(0.15, 0.35, n)  # object half-size
    sessions = pa.table({
        "sid": np.arange(n), "user": user, "created_us": created_us, "w": w, "h": h,
        "n_video_frames": n_video_frames, "pattern": pattern,
    })
    # frames
    f_sid = np.repeat(np.arange(n), n_frames)
    f_pos = _within(n_frames)
    f_index = np.where(f_pos == 0, 0, rng.integers(1, 1 << 30, len(f_sid)) % n_video_frames[f_sid])
    f_index = np.where((f_pos > 0) & (f_index == 0), 1, f_index)
    n_iter = 1 + np.minimum(rng.poisson(cfg.mean_extra_iterations, len(f_sid)), 29)
    frames = pa.table({"sid": f_sid, "fpos": f_pos, "frame_index": f_index})
    # iterations
    i_frame = np.repeat(np.arange(len(f_sid)), n_iter)
    i_sid = f_sid[i_frame]
    i_idx = _within(n_iter)
    i_pat = pattern[i_sid]
    n_inp = np.where(i_pat == 0, 1 + rng.poisson(1.0, len(i_sid)),
                     np.where(i_pat == 1, 1 + rng.poisson(0.6, len(i_sid)), 1))
    iter_t = (i_idx + 1) * rng.uniform(2.0, 6.0, len(i_sid)) + f_pos[i_frame] * 30.0
    iterations = pa.table({"sid": i_sid, "fpos": f_pos[i_frame], "it": i_idx,
                           "duration_s": np.round(rng.uniform(0.2, 1.5, len(i_sid)), 3)})
    # inputs
    k_iter = np.repeat(np.arange(len(i_sid)), n_inp)
    k_sid = i_sid[k_iter]
    m = len(k_sid)
    k_pat = pattern[k_sid]
    is_stroke = k_pat > 0
    positive = np.where(i_idx[k_iter] == 0, True, rng.random(m) < 0.7)
    t = np.round(iter_t[k_iter] + _within(n_inp) * 0.4, 3)
    ox, oy, r = cx[k_sid], cy[k_sid], obj[k_sid]
    x = np.clip(ox + rng.normal(0, 0.5, m) * r, 0, w[k_sid] - 1)
    y = np.clip(oy + rng.normal(0, 0.5, m) * r, 0, h[k_sid] - 1)
    n_pts = np.where(k_pat == 1, rng.integers(3, 9, m), np.where(k_pat == 2, rng.integers(10, 21, m), 0))
    radius = np.where(k_pat == 2, rng.uniform(8, 16, m), rng.uniform(2, 5, m)).round(1)
    inputs = pa.table({
        "sid": k_sid, "fpos": f_pos[i_frame[k_iter]], "it": i_idx[k_iter], "ipos": _within(n_inp),
        "stroke": is_stroke, "x": x.round(1), "y": y.round(1), "positive": positive, "t": t, "radius": radius,
    })
    # stroke vertices: stroke users draw a line, highlighters zig-zag over the object
    p_inp = np.repeat(np.arange(m), n_pts)
    p_k = _within(n_pts).astype(np.float64)
    p_n = n_pts[p_inp].astype(np.float64)
    ps = k_sid[p_inp]
    ang = rng.uniform(0, np.pi, m)[p_inp]
    length = (r * rng.uniform(0.6, 1.6, m))[p_inp]
    along = (p_k / np.maximum(p_n - 1, 1) - 0.5) * length
    line_x = x[p_inp] + along * np.cos(ang) + rng.normal(0, 1.5, len(p_inp))
    line_y = y[p_inp] + along * np.sin(ang) + rng.normal(0, 1.5, len(p_inp))
    zig = np.where(p_k % 2 == 0, -1.0, 1.0) * r[p_inp] * 0.8
    hl_x = ox[p_inp] + zig + rng.normal(0, 2, len(p_inp))
    hl_y = oy[p_inp] + (p_k / np.maximum(p_n - 1, 1) - 0.5) * 1.6 * r[p_inp]
    hl = k_pat[p_inp] == 2
    px = np.clip(np.where(hl, hl_x, line_x), 0, w[ps] - 1).round(1)
    py = np.clip(np.where(hl, hl_y, line_y), 0, h[ps] - 1).round(1)
    points = pa.table({"inp": p_inp, "k": p_k.astype(np.int64), "x": px, "y": py})
    inputs = inputs.append_column("inp", pa.array(np.arange(m)))
    return {"sessions": sessions, "frames": frames, "iterations": iterations, "inputs": inputs, "points": points}




def generate_documents(cfg: SynthConfig, prefix: str = "synth-") -> duckdb.DuckDBPyRelation:
    """A relation with one ``document`` (JSON text) per synthetic session, on a private connection."""
    con = duckdb.connect()
    for name, table in generate_tables(cfg).items():
        con.register(name, table)
    return con.sql(read_sql("synth/documents.sql"), params={"prefix": prefix, "start": cfg.start, "patterns": list(PATTERNS)})


#: sessions generated at a time: the generator's memory is a chunk's (about 3.5 GB of RSS for 1M)
CHUNK_SESSIONS = 500_000


def _chunks(cfg: SynthConfig, prefix: str, chunk: int) -> list[tuple[SynthConfig, str]]:
    """The configs of a large generation in chunks: chunk ``i`` has its own seed and session-id
    prefix (ids stay unique), users and days are drawn per chunk like the whole run's."""
    if cfg.n_sessions <= chunk:
        return [(cfg, prefix)]
    n_users = cfg.n_users or cfg.n_sessions // 20 + 1
    return [(replace(cfg, n_sessions=min(chunk, cfg.n_sessions - lo), seed=cfg.seed * 100_003 + i, n_users=n_users),
             f"{prefix}c{i:04d}-")
            for i, lo in enumerate(range(0, cfg.n_sessions, chunk))]


def write_logs(out: Path | str, cfg: SynthConfig, prefix: str = "synth-", *, chunk: int = CHUNK_SESSIONS) -> Path:
    """Write ``.parquet`` (one ``document`` column) or ``.jsonl`` (one document a line).

    More than ``chunk`` sessions are generated chunk by chunk and appended (Parquet: row groups of
    one writer), so 10M sessions need a chunk's memory, not 35 GB; a run of at most ``chunk``
    sessions is what it always was."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    parts = _chunks(cfg, prefix, chunk)
    if out.suffix != ".parquet":
        with open(out, "w", encoding="utf-8") as fh:
            for sub_cfg, sub_prefix in parts:
                for (doc,) in generate_documents(sub_cfg, sub_prefix).fetchall():
                    fh.write(doc)
                    fh.write("\n")
    elif len(parts) == 1:
        generate_documents(cfg, prefix).write_parquet(str(out), compression="zstd")
    else:
        import pyarrow.parquet as pq

        writer = None
        try:
            for sub_cfg, sub_prefix in parts:
                table = generate_documents(sub_cfg, sub_prefix).to_arrow_table()
                if writer is None:
                    writer = pq.ParquetWriter(str(out), table.schema, compression="zstd")
                writer.write_table(table, row_group_size=100_000)
        finally:
            if writer is not None:
                writer.close()
    return out
