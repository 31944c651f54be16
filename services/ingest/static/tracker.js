/* LeadFlow browser tracker. Embed:
 *   <script>window.leadflow=window.leadflow||[];["track","identify","page","consent"].forEach(function(m){
 *     window.leadflow[m]=window.leadflow[m]||function(){window.leadflow.push([m].concat([].slice.call(arguments)))}})</script>
 *   <script async src="https://YOUR-INGEST-HOST/v1/tracker.js" data-write-key="wk_..."></script>
 * Options (data- attributes): data-write-key (required), data-host (default: where this script
 * came from), data-require-consent="true" (send and store nothing until leadflow.consent(true)),
 * data-auto-page="false" (no automatic page view).
 */
(function (w, d) {
  "use strict";
  var VERSION = "1.0.0", YEAR = 31536000, AID = "lf_aid", UID = "lf_uid";
  var script = d.currentScript || d.querySelector("script[data-write-key]");
  if (!script) return;
  var writeKey = script.getAttribute("data-write-key");
  var host = (script.getAttribute("data-host") || new URL(script.src, w.location.href).origin).replace(/\/$/, "");
  var needConsent = script.getAttribute("data-require-consent") === "true";
  var consent = needConsent ? null : true; // null: not asked yet, false: refused
  var queue = [], held = [], timer = null, anonId = null, userId = null;

  function uuid() {
    if (w.crypto && w.crypto.randomUUID) return w.crypto.randomUUID();
    return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, function (c) {
      var r = (Math.random() * 16) | 0;
      return (c === "x" ? r : (r & 3) | 8).toString(16);
    });
  }
  function readCookie(name) {
    var m = d.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : null;
  }
  function store(name, value) {
    if (consent !== true) return; // nothing is stored before consent
    d.cookie = name + "=" + encodeURIComponent(value) + "; max-age=" + YEAR + "; path=/; SameSite=Lax" +
      (w.location.protocol === "https:" ? "; Secure" : "");
    try { w.localStorage.setItem(name, value); } catch (e) { /* storage may be disabled */ }
  }
  function load(name) {
    var v = readCookie(name);
    if (!v) { try { v = w.localStorage.getItem(name); } catch (e) { v = null; } }
    return v;
  }
  function ids() {
    if (!anonId) { anonId = load(AID) || uuid(); store(AID, anonId); }
    if (!userId) userId = load(UID);
  }

  function campaign() {
    var q = new URLSearchParams(w.location.search), c = {}, keys = ["source", "medium", "campaign", "term", "content"];
    keys.forEach(function (k) { var v = q.get("utm_" + k); if (v) c[k === "campaign" ? "name" : k] = v; });
    return c;
  }
  function pageProps() {
    var l = w.location;
    return { path: l.pathname, referrer: d.referrer, search: l.search, title: d.title, url: l.href };
  }
  function context() {
    var tz;
    try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { tz = undefined; }
    var c = { library: { name: "leadflow.js", version: VERSION }, page: pageProps(), userAgent: navigator.userAgent,
              locale: navigator.language, timezone: tz };
    var utm = campaign();
    if (Object.keys(utm).length) c.campaign = utm;
    return c;
  }

  function enqueue(msg) {
    if (consent === false) return;
    if (consent === null) { held.push(msg); return; }
    ids();
    msg.anonymousId = anonId;
    if (userId && !msg.userId) msg.userId = userId;
    msg.messageId = uuid();
    msg.timestamp = new Date().toISOString();
    msg.context = context();
    queue.push(msg);
    if (queue.length >= 20) flush(); else if (!timer) timer = setTimeout(flush, 250);
  }

  function body(batch) {
    return JSON.stringify({ writeKey: writeKey, sentAt: new Date().toISOString(), batch: batch });
  }
  // text/plain keeps it a "simple" CORS request: no preflight, and sendBeacon can carry it.
  function send(batch, attempt) {
    w.fetch(host + "/v1/batch", { method: "POST", body: body(batch), keepalive: true, mode: "cors",
                                 credentials: "omit", headers: { "Content-Type": "text/plain" } })
      .then(function (r) { if (r.status === 429 || r.status >= 500) retry(batch, attempt); })
      .catch(function () { retry(batch, attempt); });
  }
  function retry(batch, attempt) {
    if (attempt >= 6) return;
    setTimeout(function () { send(batch, attempt + 1); }, Math.min(30000, 1000 * Math.pow(2, attempt)));
  }
  function flush() {
    clearTimeout(timer); timer = null;
    if (!queue.length) return;
    send(queue.splice(0, queue.length), 0);
  }
  function flushOnExit() {
    if (!queue.length) return;
    var batch = queue.splice(0, queue.length);
    var sent = navigator.sendBeacon && navigator.sendBeacon(host + "/v1/batch", new Blob([body(batch)], { type: "text/plain" }));
    if (!sent) send(batch, 0);
  }

  var api = {
    track: function (event, properties) { enqueue({ type: "track", event: event, properties: properties || {} }); },
    page: function (name, properties) {
      enqueue({ type: "page", name: name || d.title, properties: Object.assign(pageProps(), properties || {}) });
    },
    identify: function (id, traits) {
      if (typeof id === "object" && id !== null) { traits = id; id = null; }
      if (id) { userId = String(id); store(UID, userId); }
      enqueue({ type: "identify", userId: id ? String(id) : undefined, traits: traits || {} });
    },
    consent: function (granted) {
      consent = !!granted;
      var waiting = held.splice(0, held.length);
      if (consent) { anonId = null; waiting.forEach(enqueue); }
    },
    anonymousId: function () { ids(); return anonId; },
    flush: flush,
    version: VERSION
  };

  var pending = Array.isArray(w.leadflow) ? w.leadflow : [];
  w.leadflow = api;
  w.addEventListener("pagehide", flushOnExit);
  d.addEventListener("visibilitychange", function () { if (d.visibilityState === "hidden") flushOnExit(); });
  if (script.getAttribute("data-auto-page") !== "false") api.page();
  pending.forEach(function (call) { if (api[call[0]]) api[call[0]].apply(null, call.slice(1)); });
})(window, document);
