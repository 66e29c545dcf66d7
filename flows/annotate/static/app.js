// ivos annotate: the single page. Plain JS, no build step. The server does all the work;
// this file draws the frame + mask overlay, turns pointer input into clicks and strokes, and
// calls the JSON API (see flows/annotate/app.py).
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const token = params.get("token") || sessionStorage.getItem("ivos_token");
  if (token) sessionStorage.setItem("ivos_token", token);

  const S = {
    sid: null, video: null, frame: 0, negative: false, img: null, maskCanvas: null, maskArea: 0,
    inputs: {}, worst: [], propagated: new Set(), annotated: new Set(), busy: false, round: 0,
    latencies: [], videos: [], propagating: false,
  };
  window.ivosState = S; // for debugging in the console

  // ---- API -------------------------------------------------------------------------------
  function withToken(path) {
    return token ? path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : path;
  }
  async function api(method, path, body) {
    const headers = {};
    if (token) headers["X-IVOS-Token"] = token;
    const opt = { method, headers };
    if (body !== undefined) { headers["Content-Type"] = "application/json"; opt.body = JSON.stringify(body); }
    const r = await fetch(path, opt);
    const ct = r.headers.get("content-type") || "";
    const data = ct.includes("json") ? await r.json() : await r.text();
    if (!r.ok) {
      const d = data && data.detail;
      throw new Error(typeof d === "string" ? d : JSON.stringify(d || data));
    }
    return data;
  }
  let toastTimer = null;
  function toast(msg, error) {
    const t = $("toast");
    t.textContent = msg;
    t.className = "toast" + (error ? " error" : "");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => t.classList.add("hidden"), error ? 8000 : 4000);
  }
  function status(msg) { $("status").textContent = msg; }

  // ---- views -------------------------------------------------------------------------------
  function show(view) {
    for (const v of ["videos", "annotate", "jobs"]) {
      $("view-" + v).classList.toggle("hidden", v !== view);
      $("tab-" + v).classList.toggle("active", v === view);
    }
    if (view === "jobs") loadJobs();
  }
  document.querySelectorAll("button.tab").forEach((b) => b.addEventListener("click", () => show(b.dataset.view)));

  // ---- videos ------------------------------------------------------------------------------
  function renderVideos() {
    const q = $("filter").value.toLowerCase();
    const box = $("videos");
    box.textContent = "";
    const shown = S.videos.filter((v) => !q || v.uri.toLowerCase().includes(q));
    for (const v of shown) {
      const card = document.createElement("div");
      card.className = "card";
      card.dataset.uri = v.uri;
      const img = document.createElement("img");
      img.loading = "lazy";
      img.alt = v.name;
      img.src = withToken("/api/videos/thumbnail?uri=" + encodeURIComponent(v.uri));
      const t = document.createElement("div"); t.className = "t"; t.textContent = v.name; t.title = v.uri;
      const m = document.createElement("div"); m.className = "m";
      m.textContent = `${v.n_frames} frames · ${v.width}×${v.height} · ${v.kind}`;
      card.append(img, t, m);
      card.addEventListener("click", () => openVideo(v.uri));
      box.append(card);
    }
    $("videos-note").textContent = `${shown.length} of ${S.videos.length} videos`;
  }
  async function loadVideos(refresh) {
    try {
      const r = await api("GET", "/api/videos" + (refresh ? "?refresh=true" : ""));
      S.videos = r.videos;
      renderVideos();
    } catch (e) { toast(e.message, true); }
  }
  $("filter").addEventListener("input", renderVideos);
  $("refresh").addEventListener("click", () => loadVideos(true));

  async function openVideo(uri) {
    try {
      const user = $("user").value.trim() || undefined;
      const r = await api("POST", "/api/sessions", { uri, user_id: user });
      S.sid = r.session_id; S.video = r.video; S.inputs = {}; S.worst = []; S.propagated = new Set();
      S.annotated = new Set(); S.round = 0; S.latencies = [];
      const c = $("canvas");
      c.width = r.video.width; c.height = r.video.height;
      $("video-name").textContent = r.video.uri;
      $("frame-count").textContent = r.video.n_frames - 1;
      $("tab-annotate").disabled = false;
      show("annotate");
      buildStrip();
      await loadFrame(0);
      status(`session ${S.sid}: left click = object, right click = background, drag = stroke`);
    } catch (e) { toast(e.message, true); }
  }

  // ---- drawing -----------------------------------------------------------------------------
  function setMask(rle) {
    const c = $("canvas");
    if (!rle) { S.maskCanvas = null; S.maskArea = 0; c.dataset.maskArea = "0"; return; }
    const [h, w] = rle.size;
    const oc = document.createElement("canvas");
    oc.width = w; oc.height = h;
    const g = oc.getContext("2d");
    const im = g.createImageData(w, h);
    const px = new Uint32Array(im.data.buffer);
    const colour = new Uint32Array(new Uint8ClampedArray([255, 64, 160, 255]).buffer)[0];
    let pos = 0, on = false;
    for (const n of rle.counts) { if (on) px.fill(colour, pos, pos + n); pos += n; on = !on; }
    g.putImageData(im, 0, 0);
    S.maskCanvas = oc;
    S.maskArea = rle.area;
    c.dataset.maskArea = String(rle.area);
  }
  function draw(preview) {
    const c = $("canvas"), g = c.getContext("2d");
    g.globalAlpha = 1;
    if (S.img) g.drawImage(S.img, 0, 0, c.width, c.height);
    else { g.fillStyle = "#000"; g.fillRect(0, 0, c.width, c.height); }
    if (S.maskCanvas) { g.globalAlpha = 0.5; g.drawImage(S.maskCanvas, 0, 0); g.globalAlpha = 1; }
    const r = Math.max(3, Math.round(c.width / 160));
    const marks = (S.inputs[S.frame] || []).concat(preview ? [preview] : []);
    for (const inp of marks) {
      g.strokeStyle = g.fillStyle = inp.positive ? "#3ccf7a" : "#ff5a5a";
      if (inp.kind === "click") {
        g.beginPath(); g.arc(inp.x, inp.y, r, 0, 2 * Math.PI); g.fill();
        g.lineWidth = 1.5; g.strokeStyle = "#fff"; g.stroke();
      } else {
        g.lineWidth = 2 * (inp.radius || 3); g.lineCap = g.lineJoin = "round"; g.globalAlpha = 0.8;
        g.beginPath(); inp.points.forEach(([x, y], k) => (k ? g.lineTo(x, y) : g.moveTo(x, y))); g.stroke();
        g.globalAlpha = 1;
      }
    }
  }

  // ---- frames ------------------------------------------------------------------------------
  function loadImage(src) {
    return new Promise((resolve, reject) => {
      const im = new Image();
      im.onload = () => resolve(im);
      im.onerror = () => reject(new Error("cannot load " + src));
      im.src = src;
    });
  }
  async function loadFrame(i) {
    if (!S.sid || i < 0 || i >= S.video.n_frames) return;
    S.frame = i;
    $("frame-no").textContent = i;
    markStrip();
    const [img, sel] = await Promise.all([
      loadImage(withToken(`/api/sessions/${S.sid}/frames/${i}.jpg`)),
      api("POST", `/api/sessions/${S.sid}/select`, { frame_index: i }),
    ]);
    if (S.frame !== i) return;
    S.img = img;
    setMask(sel.mask);
    draw();
  }
  $("prev").addEventListener("click", () => loadFrame(S.frame - 1).catch((e) => toast(e.message, true)));
  $("next").addEventListener("click", () => loadFrame(S.frame + 1).catch((e) => toast(e.message, true)));

  function buildStrip() {
    const strip = $("strip");
    strip.textContent = "";
    for (let i = 0; i < S.video.n_frames; i++) {
      const f = document.createElement("div");
      f.className = "f"; f.dataset.frame = i;
      const img = document.createElement("img");
      img.loading = "lazy"; img.alt = "frame " + i;
      img.src = withToken(`/api/sessions/${S.sid}/thumbs/${i}.jpg?v=${S.round}`);
      const n = document.createElement("span"); n.textContent = i;
      f.append(img, n);
      f.addEventListener("click", () => loadFrame(i).catch((e) => toast(e.message, true)));
      strip.append(f);
    }
    markStrip();
  }
  function refreshThumb(i) {
    const img = document.querySelector(`#strip .f[data-frame="${i}"] img`);
    if (img) img.src = withToken(`/api/sessions/${S.sid}/thumbs/${i}.jpg?v=${S.round}-${Date.now()}`);
  }
  function markStrip() {
    document.querySelectorAll("#strip .f").forEach((f) => {
      const i = Number(f.dataset.frame);
      f.classList.toggle("cur", i === S.frame);
      f.classList.toggle("ann", S.annotated.has(i));
      f.classList.toggle("worst", S.worst.includes(i));
    });
    const cur = document.querySelector("#strip .f.cur");
    if (cur && cur.scrollIntoView) cur.scrollIntoView({ block: "nearest", inline: "nearest" });
  }

  // ---- input -------------------------------------------------------------------------------
  const canvas = $("canvas");
  let drag = null;
  function toXY(e) {
    const r = canvas.getBoundingClientRect();
    const x = ((e.clientX - r.left) * canvas.width) / r.width;
    const y = ((e.clientY - r.top) * canvas.height) / r.height;
    const cl = (v, hi) => Math.round(Math.min(Math.max(v, 0), hi) * 10) / 10;
    return [cl(x, canvas.width - 1), cl(y, canvas.height - 1)];
  }
  canvas.addEventListener("contextmenu", (e) => e.preventDefault());
  canvas.addEventListener("pointerdown", (e) => {
    if (!S.sid || S.busy || S.propagating) return;
    e.preventDefault();
    try { canvas.setPointerCapture(e.pointerId); } catch (_) { /* synthetic pointers */ }
    drag = { pts: [toXY(e)], positive: !(e.button === 2 || S.negative) };
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const p = toXY(e), q = drag.pts[drag.pts.length - 1];
    if (Math.hypot(p[0] - q[0], p[1] - q[1]) >= 2) drag.pts.push(p);
    if (drag.pts.length > 1) draw({ kind: "stroke", points: drag.pts, positive: drag.positive, radius: 3 });
  });
  canvas.addEventListener("pointerup", () => {
    if (!drag) return;
    const d = drag;
    drag = null;
    let len = 0;
    for (let k = 1; k < d.pts.length; k++) len += Math.hypot(d.pts[k][0] - d.pts[k - 1][0], d.pts[k][1] - d.pts[k - 1][1]);
    const inp = d.pts.length >= 2 && len > 8
      ? { kind: "stroke", points: d.pts.slice(0, 4000), positive: d.positive, radius: 3 }
      : { kind: "click", x: d.pts[0][0], y: d.pts[0][1], positive: d.positive };
    sendInput(inp);
  });
  canvas.addEventListener("pointercancel", () => { drag = null; draw(); });

  async function sendInput(inp) {
    S.busy = true;
    const frame = S.frame;
    const t0 = performance.now();
    (S.inputs[frame] = S.inputs[frame] || []).push(inp);
    draw();
    try {
      const r = await api("POST", `/api/sessions/${S.sid}/interact`, { frame_index: frame, inputs: [inp] });
      if (S.frame === frame) { setMask(r.mask); draw(); }
      const ms = performance.now() - t0;
      S.latencies.push(ms);
      S.annotated.add(frame);
      canvas.dataset.iterations = String(r.iterations);
      $("latency").textContent = `click → mask ${ms.toFixed(0)} ms (model ${r.model_ms} ms)`;
      status(`frame ${frame} (${r.stage}): ${r.iterations} iteration(s), mask ${r.mask ? r.mask.area : 0} px` +
        (r.stale ? " · annotations changed since the last propagation" : ""));
      markStrip();
      refreshThumb(frame);
    } catch (e) {
      S.inputs[frame].pop();
      draw();
      toast(e.message, true);
    } finally {
      S.busy = false;
    }
  }
  $("mode").addEventListener("click", () => {
    S.negative = !S.negative;
    $("mode").textContent = S.negative ? "Negative" : "Positive";
    $("mode").classList.toggle("negative", S.negative);
  });

  async function undoOrReset(kind) {
    if (!S.sid || S.busy) return;
    S.busy = true;
    try {
      const r = await api("POST", `/api/sessions/${S.sid}/${kind}`, { frame_index: S.frame });
      if (kind === "undo") (S.inputs[S.frame] || []).pop(); else S.inputs[S.frame] = [];
      if (!r.iterations) S.annotated.delete(S.frame);
      setMask(r.mask);
      draw();
      markStrip();
      refreshThumb(S.frame);
      status(`frame ${S.frame}: ${r.iterations} iteration(s)`);
    } catch (e) { toast(e.message, true); } finally { S.busy = false; }
  }
  $("undo").addEventListener("click", () => undoOrReset("undo"));
  $("reset").addEventListener("click", () => undoOrReset("reset"));
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT" || $("view-annotate").classList.contains("hidden")) return;
    if ((e.ctrlKey || e.metaKey) && e.key === "z") { e.preventDefault(); undoOrReset("undo"); }
    else if (e.key === "n") $("mode").click();
    else if (e.key === "ArrowLeft") $("prev").click();
    else if (e.key === "ArrowRight") $("next").click();
  });

  // ---- propagation -------------------------------------------------------------------------
  function showProgress(p) {
    $("progress").classList.remove("hidden");
    const frac = p.total ? p.done / p.total : 0;
    $("progress-bar").style.width = (100 * frac).toFixed(1) + "%";
    $("progress-text").textContent = `${p.phase || p.state} ${p.done}/${p.total}` + (p.error ? ` · ${p.error}` : "");
  }
  async function finishPropagation() {
    S.propagating = false;
    $("propagate").disabled = false;
    const s = await api("GET", `/api/sessions/${S.sid}`);
    showProgress(s.progress);
    if (s.progress.state === "failed") { toast("propagation failed: " + s.progress.error, true); return; }
    S.round = s.round;
    S.propagated = new Set(s.propagated);
    S.worst = [];
    buildStrip();
    await loadFrame(S.frame);
    status(`propagated (round ${s.round}): pick frames that look wrong, click to fix them, then propagate again`);
  }
  function follow() {
    let ended = false;
    const end = () => { if (!ended) { ended = true; finishPropagation().catch((e) => toast(e.message, true)); } };
    if (window.EventSource) {
      const es = new EventSource(withToken(`/api/sessions/${S.sid}/events`));
      es.onmessage = (ev) => showProgress(JSON.parse(ev.data));
      es.addEventListener("end", () => { es.close(); end(); });
      es.onerror = () => { es.close(); if (!ended) poll(end); };
    } else poll(end);
  }
  function poll(end) {
    const tick = async () => {
      try {
        const p = await api("GET", `/api/sessions/${S.sid}/progress`);
        showProgress(p);
        if (p.state === "running") setTimeout(tick, 500); else end();
      } catch (e) { toast(e.message, true); end(); }
    };
    tick();
  }
  $("propagate").addEventListener("click", async () => {
    if (!S.sid || S.propagating) return;
    try {
      await api("POST", `/api/sessions/${S.sid}/propagate`, {});
      S.propagating = true;
      $("propagate").disabled = true;
      showProgress({ state: "running", phase: "starting", done: 0, total: 0 });
      follow();
    } catch (e) { toast(e.message, true); }
  });
  $("worst").addEventListener("click", async () => {
    try {
      const r = await api("GET", `/api/sessions/${S.sid}/worst?k=3`);
      S.worst = r.frames;
      markStrip();
      toast("worst frames: " + r.frames.join(", ") + " (red in the strip)");
      if (r.frames.length) await loadFrame(r.frames[0]);
    } catch (e) { toast(e.message, true); }
  });

  // ---- save / submit / jobs ----------------------------------------------------------------
  $("save").addEventListener("click", async () => {
    try {
      const r = await api("POST", `/api/sessions/${S.sid}/save`);
      status(`saved ${r.session_id} to ${r.path}`);
      $("status").dataset.saved = r.path;
      toast("saved " + r.path);
    } catch (e) { toast(e.message, true); }
  });
  $("submit").addEventListener("click", async () => {
    try {
      const j = await api("POST", `/api/sessions/${S.sid}/submit`, { priority: "normal" });
      toast(`submitted ${j.session_id} (${j.mode})`);
      show("jobs");
    } catch (e) { toast(e.message, true); }
  });
  let jobsTimer = null;
  async function loadJobs() {
    clearTimeout(jobsTimer);
    try {
      const user = $("user").value.trim();
      const r = await api("GET", "/api/jobs" + (user ? "?user_id=" + encodeURIComponent(user) : ""));
      const body = document.querySelector("#jobs tbody");
      body.textContent = "";
      for (const j of r.jobs) {
        const tr = document.createElement("tr");
        const cells = [j.session_id, j.mode, j.state + (j.message ? ` (${j.message})` : ""), j.total ? `${j.done}/${j.total}` : ""];
        for (const c of cells) { const td = document.createElement("td"); td.textContent = c; tr.append(td); }
        const out = document.createElement("td");
        if (j.output_dir) {
          const f = j.files || {};
          const link = (name, label) => {
            const a = document.createElement("a");
            a.href = withToken(`/api/jobs/${j.job_id}/files/${encodeURIComponent(name)}`); a.textContent = label; a.target = "_blank";
            out.append(a);
          };
          if (f.sticker_gif) { const im = document.createElement("img"); im.src = withToken(`/api/jobs/${j.job_id}/files/${f.sticker_gif}`); out.append(im, document.createElement("br")); }
          if (f.overlay) link(f.overlay, "overlay video");
          if (f.sticker_apng) link(f.sticker_apng, "sticker (APNG)");
          link("masks.zip", "DAVIS PNGs");
          if (f.rle) link(f.rle, "RLE");
        }
        tr.append(out);
        body.append(tr);
      }
      if (r.jobs.some((j) => !["completed", "failed", "cancelled", "crashed"].includes(j.state)) && !$("view-jobs").classList.contains("hidden")) {
        jobsTimer = setTimeout(loadJobs, 2000);
      }
    } catch (e) { toast(e.message, true); }
  }
  $("jobs-refresh").addEventListener("click", loadJobs);

  // ---- start -------------------------------------------------------------------------------
  async function init() {
    try {
      const info = await api("GET", "/api/info");
      $("user").value = localStorage.getItem("ivos_user") || info.user_id;
    } catch (e) { toast(e.message, true); }
    $("user").addEventListener("change", () => localStorage.setItem("ivos_user", $("user").value.trim()));
    await loadVideos(false);
    document.body.dataset.ready = "1";
  }
  init();
})();
