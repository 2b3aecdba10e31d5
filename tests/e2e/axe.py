"""axe-core (from the npm registry, into the git-ignored .cache/axe) run in a real page, and
the wrong-language check: the rendered text of a page holds no text of the other language
outside elements marked with their own ``lang`` (proper names)."""

from __future__ import annotations

import subprocess
from functools import cache
from typing import Any

from tests.support import ROOT

AXE_DIR = ROOT / ".cache" / "axe"
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@cache
def axe_source() -> str:
    """axe.min.js, installed with npm (the registry's ordinary client) when missing."""
    if not AXE_JS.exists():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(AXE_DIR),
                        "axe-core@4"], check=True, timeout=600, capture_output=True)
    return AXE_JS.read_text(encoding="utf-8")


RUN_AXE = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags},
                                          resultTypes: ['violations']});
  return result.violations.map((v) => `${v.id} (${v.impact}): ${v.help} — ` +
    v.nodes.slice(0, 4).map((n) => `${n.target.join(' ')}: ${n.failureSummary}`).join(' | '));
}"""


def axe_violations(page: Any) -> list[str]:
    """WCAG 2.1 AA violations axe-core finds in the page as it is now (the context must be
    created with ``bypass_csp=True``, so the page's own policy does not block axe)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe_source())
    found: list[str] = page.evaluate(RUN_AXE, WCAG_21_AA)
    return found


WRONG_LANGUAGE = r"""() => {
  const zh = document.documentElement.lang.startsWith('zh');
  const cjk = /[\u3400-\u9fff\u3000-\u303f\uff01-\uff5e]/;
  const allowed = new Set(['CSV', 'P90', 'QR', 'SVG']);
  const latin = (text) => (text.match(/[A-Za-z]{3,}/g) || []).filter((w) => !allowed.has(w));
  const wrong = (text) => (zh ? latin(text).length > 0 : cjk.test(text));
  const foreign = (node) => {
    const marked = node.closest('[lang]');
    return marked && marked !== document.documentElement
      && !marked.lang.startsWith(zh ? 'zh' : 'en');
  };
  const shown = (node) => node.getClientRects().length > 0
    && getComputedStyle(node).visibility !== 'hidden';
  const bad = [];
  if (wrong(document.title)) bad.push(`title: ${document.title}`);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const text = walker.currentNode.textContent.trim();
    const node = walker.currentNode.parentElement;
    if (!text || !node || node.closest('script, style') || !shown(node) || foreign(node)) continue;
    if (wrong(text)) bad.push(text);
  }
  const labelled = '[placeholder], [aria-label], [alt], [title]';
  for (const node of document.body.querySelectorAll(labelled)) {
    if (!shown(node) || foreign(node)) continue;
    for (const attr of ['placeholder', 'aria-label', 'alt', 'title']) {
      const text = node.getAttribute(attr);
      if (text && wrong(text)) bad.push(`${attr}: ${text}`);
    }
  }
  return bad;
}"""


def wrong_language(page: Any) -> list[str]:
    found: list[str] = page.evaluate(WRONG_LANGUAGE)
    return found


CUT_OFF = """() => {
  const out = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > innerWidth + 1) out.push(`page ${doc.scrollWidth} px in ${innerWidth}`);
  for (const box of document.querySelectorAll('.panel, table, .win, .wait, .calls li, button')) {
    if (!box.getClientRects().length) continue;
    if (box.scrollWidth > box.clientWidth + 1 && getComputedStyle(box).overflowX !== 'auto')
      out.push(`${box.tagName}.${box.className} "${(box.querySelector('h2, th') || box)
        .textContent.trim().slice(0, 30)}" ${box.scrollWidth} > ${box.clientWidth}`);
  }
  return out;
}"""


def cut_off(page: Any) -> list[str]:
    """Boxes whose content runs past them (and a page wider than its screen)."""
    found: list[str] = page.evaluate(CUT_OFF)
    return found
