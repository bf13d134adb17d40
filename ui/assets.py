"""The page's look and its one piece of client-side behaviour (citation links), as strings.

Kept in Python rather than static files so the editable install and a wheel behave the same. The
script only moves things already on the page (shows a source card, scrolls it into view); it never
inserts markup, so it cannot be a way for article text to become HTML.
"""

from __future__ import annotations

__all__ = ["CSS", "HEAD", "theme"]

CSS = """
.gradio-container { max-width: 1320px !important; margin: 0 auto !important; }
#app-header { padding: 4px 2px 0 2px; }
#app-header h1 { font-size: 1.55rem; margin: 0; letter-spacing: -0.01em; }
#app-header .subtitle { color: var(--body-text-color-subdued); font-size: 0.92rem; margin-top: 2px; }

/* ---- chat messages ---- */
#chat .answer-text { line-height: 1.55; }
#chat .answer-text.refusal { font-style: italic; }
#chat .searched { font-size: 0.82rem; color: var(--body-text-color-subdued); margin-bottom: 6px; }
#chat .searched q { font-style: italic; }
#chat a.cite {
  display: inline-block; padding: 0 5px; margin: 0 1px; border-radius: 6px; font-size: 0.8em; font-weight: 600;
  line-height: 1.5; text-decoration: none !important; color: var(--color-accent) !important;
  background: var(--color-accent-soft); vertical-align: 0.12em; cursor: pointer;
}
#chat a.cite:hover { filter: brightness(0.92); }
#chat .answer-sources { margin-top: 10px; font-size: 0.85rem; color: var(--body-text-color-subdued); }
#chat a.source-entry {
  display: inline-block; margin: 3px 6px 0 0; padding: 2px 9px; border-radius: 999px; text-decoration: none !important;
  border: 1px solid var(--border-color-primary); color: var(--body-text-color) !important; background: var(--background-fill-secondary);
}
#chat a.source-entry:hover { border-color: var(--color-accent); }
#chat .answer-meta { margin-top: 8px; font-size: 0.75rem; color: var(--body-text-color-subdued); }
#chat .no-sources {
  margin-top: 10px; font-size: 0.85rem; padding: 6px 10px; border-radius: 8px;
  background: rgba(245, 158, 11, 0.12); color: var(--body-text-color);
}
#chat .answer-error { color: #b91c1c; }
.dark #chat .answer-error { color: #f87171; }
#chat .answer-status { font-size: 0.85rem; color: var(--body-text-color-subdued); font-style: italic; }
#chat .caret { display: inline-block; width: 7px; height: 1em; margin-left: 2px; vertical-align: -0.15em;
  background: var(--color-accent); animation: blink 1s steps(1) infinite; }
@keyframes blink { 50% { opacity: 0; } }

/* Gradio's queue position ("queue: 2/3 | 4.1/30s") over the chat: make it easy to see. */
#chat .progress-text { font-size: 0.9rem !important; font-family: inherit !important; padding: 4px 12px; border-radius: 999px;
  background: var(--color-accent-soft); color: var(--color-accent); }

/* Gradio's own "typing" dots would repeat our waiting/streaming message. */
#chat .container:has(> [aria-label="Loading response"]) { display: none; }

/* ---- example questions ---- */
#examples { gap: 8px !important; flex-wrap: wrap; }
#examples button { flex: 0 0 auto !important; min-width: 0 !important; border-radius: 999px !important;
  font-weight: 400 !important; padding: 4px 14px !important; }

/* ---- sources panel ---- */
#sources { max-height: 640px; overflow-y: auto; padding-right: 4px; }
.sources-panel .turn-sources { display: none; }
.sources-panel .turn-sources.active { display: block; }
.sources-panel .turn-head { font-size: 0.85rem; color: var(--body-text-color-subdued); margin: 2px 0 10px 0; }
.sources-panel .sources-empty { color: var(--body-text-color-subdued); font-size: 0.92rem; padding: 18px 6px; line-height: 1.5; }
.sources-panel .no-sources { padding: 10px 12px; border-radius: 10px; background: rgba(245, 158, 11, 0.12); font-size: 0.92rem; }
.source-card {
  border: 1px solid var(--border-color-primary); border-radius: 12px; padding: 12px 14px; margin-bottom: 12px;
  background: var(--background-fill-primary); transition: box-shadow 0.3s, border-color 0.3s; scroll-margin: 12px;
}
.source-card.flash { border-color: var(--color-accent); box-shadow: 0 0 0 3px var(--color-accent-soft); }
.source-card .card-head { display: flex; align-items: baseline; gap: 8px; }
.source-card .card-n { font-weight: 700; color: var(--color-accent); }
.source-card .card-title { font-weight: 600; }
.source-card .card-meta { font-size: 0.75rem; color: var(--body-text-color-subdued); margin: 3px 0 8px 0; }
.card-byline { font-size: 0.8rem; margin-top: 3px; }
.card-byline a.card-link { color: var(--color-accent) !important; text-decoration: none; }
.card-byline a.card-link:hover { text-decoration: underline; }
.card-also { font-size: 0.78rem; color: var(--body-text-color-subdued); font-style: italic; margin-top: 2px; }
/* Supporting sentences are marked; the rest of the cited passage is set off more quietly. */
.source-card .card-context .passage { background: rgba(250, 204, 21, 0.10); border-radius: 3px; }
/* A refusal's closest passages: dashed and grey, never numbered, so they cannot pass for sources. */
.sources-panel .closest { margin-top: 14px; }
.sources-panel .closest-head { font-weight: 600; font-size: 0.9rem; }
.sources-panel .closest-note { font-size: 0.78rem; color: var(--body-text-color-subdued); margin: 2px 0 8px 0; }
.near-card { border: 1px dashed var(--border-color-primary); border-radius: 10px; padding: 8px 12px; margin-bottom: 10px;
  background: transparent; color: var(--body-text-color-subdued); }
.near-card .near-title { font-weight: 600; font-size: 0.86rem; }
#sources .near-card .near-text { margin: 6px 0 0 0 !important; padding: 0; border: none; font-size: 0.84rem; line-height: 1.5;
  white-space: pre-wrap; overflow-wrap: anywhere; quotes: none; }
#chat .searched-filters { margin-top: 8px; font-size: 0.8rem; color: var(--body-text-color-subdued); }
#chat .closest-pointer { margin-top: 6px; font-size: 0.8rem; color: var(--body-text-color-subdued); }
#chat .entry-note { color: var(--body-text-color-subdued); font-size: 0.92em; }
#sources .source-card .card-context {
  margin: 0 !important; quotes: none; padding: 8px 10px; border-left: 3px solid var(--color-accent); border-radius: 0 8px 8px 0;
  background: var(--background-fill-secondary); font-size: 0.88rem; line-height: 1.55; white-space: pre-wrap;
  overflow-wrap: anywhere;
}
.source-card .card-context .context { color: var(--body-text-color-subdued); }
.source-card mark.cited { background: rgba(250, 204, 21, 0.38); color: var(--body-text-color); padding: 1px 0; border-radius: 3px; }
.dark .source-card mark.cited { background: rgba(250, 204, 21, 0.25); }

/* ---- corpus tab ---- */
.stats .stat-row { display: flex; gap: 12px; flex-wrap: wrap; }
.stats .stat { flex: 1 1 150px; border: 1px solid var(--border-color-primary); border-radius: 12px; padding: 12px 16px;
  background: var(--background-fill-secondary); }
.stats .stat-value { font-size: 1.35rem; font-weight: 700; }
.stats .stat-label { font-size: 0.8rem; color: var(--body-text-color-subdued); }
.stats .stats-details { margin-top: 10px; font-size: 0.8rem; color: var(--body-text-color-subdued); overflow-wrap: anywhere; }
.stats.empty { padding: 12px; border-radius: 10px; background: rgba(245, 158, 11, 0.12); }
.report-summary { font-size: 0.9rem; margin: 4px 0 8px 0; }
.report-table { width: 100%; border-collapse: collapse; font-size: 0.86rem; border: none !important; }
.report-table tr, .report-table thead, .report-table tbody { border: none !important; }
.report-table th, .report-table td { text-align: left; padding: 6px 8px; border: none !important;
  border-bottom: 1px solid var(--border-color-primary) !important; overflow-wrap: anywhere; }
.report-table th { font-weight: 600; color: var(--body-text-color-subdued); }
.report-table .num { text-align: right; }
.report-table .badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 0.78rem;
  background: var(--background-fill-secondary); }
.report-table .status-added .badge, .report-table .status-saved .badge { background: rgba(34, 197, 94, 0.18); }
.report-table .status-updated .badge, .report-table .status-replaced .badge { background: rgba(59, 130, 246, 0.18); }
.report-table .status-failed .badge, .report-table .status-refused .badge { background: rgba(239, 68, 68, 0.2); }
.report-table .status-deleted .badge { background: rgba(148, 163, 184, 0.3); }
.notice { padding: 8px 12px; border-radius: 8px; font-size: 0.9rem; margin: 4px 0; }
.notice-ok { background: rgba(34, 197, 94, 0.14); }
.notice-error { background: rgba(239, 68, 68, 0.14); }
.notice-info { background: var(--background-fill-secondary); }
.report-table .status-unchanged .badge { background: rgba(148, 163, 184, 0.3); }
.articles-summary { font-size: 0.85rem; color: var(--body-text-color-subdued); margin: 4px 0; }
#articles tbody tr { cursor: pointer; }
.article-view { border: 1px solid var(--border-color-primary); border-radius: 12px; padding: 12px 16px; margin-top: 8px; }
.article-view .article-title { margin: 0 0 2px 0; font-size: 1.1rem; }
.article-view .card-meta { font-size: 0.75rem; color: var(--body-text-color-subdued); margin-top: 2px; }
.article-view .article-text { margin-top: 8px; line-height: 1.55; max-height: 520px; overflow-y: auto; overflow-wrap: anywhere; }
.article-view .article-text p { margin: 0 0 0.7em 0; }
"""

# Citation links: `#src-<turn>-<n>` shows that turn's sources and brings card n into view. A
# document-level listener in the capture phase, so it works for messages rendered at any time.
HEAD = """
<script>
(() => {
  function showSource(turn, n) {
    const group = document.getElementById("sources-t" + turn);
    if (!group) return false;
    document.querySelectorAll(".sources-panel .turn-sources").forEach((g) => g.classList.toggle("active", g === group));
    const card = document.getElementById("src-" + turn + "-" + n) || group;
    card.scrollIntoView({ behavior: "smooth", block: "nearest" });
    card.classList.remove("flash");
    void card.offsetWidth;  // restart the highlight if the same card is clicked twice
    card.classList.add("flash");
    setTimeout(() => card.classList.remove("flash"), 2500);
    return true;
  }
  document.addEventListener("click", (event) => {
    const link = event.target && event.target.closest ? event.target.closest('a[href^="#src-"]') : null;
    if (!link) return;
    const match = /^#src-(\\d+)-(\\d+)$/.exec(link.getAttribute("href") || "");
    if (!match) return;
    event.preventDefault();
    event.stopPropagation();
    showSource(match[1], match[2]);
  }, true);
})();
</script>
"""


def theme():  # -> gradio.themes.Base, typed loosely so importing this module does not import gradio
    import gradio as gr

    # Local font stacks only: the theme defaults are Google Fonts, which an offline page cannot fetch.
    return gr.themes.Soft(primary_hue="indigo", secondary_hue="slate", neutral_hue="slate",
                          font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"],
                          font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"])
