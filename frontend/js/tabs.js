// Accessible tabs (WAI-ARIA pattern): arrow keys move between tabs; panels render lazily so
// Plotly measures a visible container.

import { h } from "./dom.js";

/**
 * tabs: [{id, label, render(panel)}]. Returns the element. `initial` is the id to open;
 * `onChange(id)` is told of every switch (to keep it in the URL).
 */
export function tabView(tabs, initial, onChange) {
  const list = h("div", { role: "tablist", class: "tabs", "aria-label": "Result sections" });
  const panels = h("div", { class: "tab-panels" });
  const rendered = new Set();
  const buttons = tabs.map((tab) => h("button", {
    type: "button", role: "tab", id: `tab-${tab.id}`, "aria-controls": `panel-${tab.id}`,
    text: tab.label, onclick: () => select(tab.id, true),
    onkeydown: (e) => {
      const i = tabs.findIndex((t) => t.id === tab.id);
      let next = null;
      if (e.key === "ArrowRight") next = (i + 1) % tabs.length;
      if (e.key === "ArrowLeft") next = (i - 1 + tabs.length) % tabs.length;
      if (e.key === "Home") next = 0;
      if (e.key === "End") next = tabs.length - 1;
      if (next !== null) {
        e.preventDefault();
        select(tabs[next].id, true);
        buttons[next].focus();
      }
    },
  }));
  const panelEls = tabs.map((tab) => h("section", {
    role: "tabpanel", id: `panel-${tab.id}`, "aria-labelledby": `tab-${tab.id}`, tabindex: "0",
    class: "tab-panel", hidden: true,
  }));
  list.append(...buttons);
  panels.append(...panelEls);

  function select(id, user) {
    tabs.forEach((tab, i) => {
      const on = tab.id === id;
      buttons[i].setAttribute("aria-selected", String(on));
      buttons[i].tabIndex = on ? 0 : -1;
      panelEls[i].hidden = !on;
      if (on && !rendered.has(id)) {
        rendered.add(id);
        tab.render(panelEls[i]);
      }
    });
    if (user && onChange) onChange(id);
  }

  const root = h("div", { class: "tabview" }, list, panels);
  // Select after the caller attaches the view, so charts get a real width.
  root.open = () => select(tabs.some((t) => t.id === initial) ? initial : tabs[0].id, false);
  return root;
}
