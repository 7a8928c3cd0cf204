"""Spectral chart specs as the browser builds them: labels, help anchors, distinguishable lines."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser.conftest import UI
from tests.browser.test_modules import run

pytestmark = pytest.mark.browser

METHODS = Path(__file__).resolve().parents[2] / "docs" / "methods.md"

SUITE = """
    const row = (layer, kernel, side, a) => ({layer, kernel, side, alignment: a,
      alignment_random: 0.2, lift: a / 0.2, d_eff: 4, capture: [0.9, 0.5],
      lift_interval: side === 'data' ? {estimate: a / 0.2, low: a / 0.2 - 0.1,
                                         high: a / 0.2 + 0.1} : null});
    const sp = {num_contexts: 100, layers: [0, 2],
      spectra: [{kernel: 'lin', side: 'data', eigenvalues: [3, 2, 1], trace: 6}],
      heldout: [{layer: 0, r2: 0.1, ridge: 0.01, canonical_correlations: [0.5],
                 canonical_correlations_test: [0.4]},
                {layer: 2, r2: 0.5, ridge: 0.01, canonical_correlations: [0.9],
                 canonical_correlations_test: [0.8]}],
      representation: [{layer: 0, eigenvalues: [2, 1], effective_rank: 2,
                        participation_ratio: 1.8, alpha: 1, anisotropy: 0.1},
                       {layer: 2, eigenvalues: [3, 1], effective_rank: 1.8,
                        participation_ratio: 1.6, alpha: 1.2, anisotropy: 0.2}],
      fisher: {layer: 2, num_contexts: 8, eigenvalues: [2, 1], retained_mass: 0.9},
      dirichlet: [{layer: 2, directions_layer: 2, kernel: 'lin', side: 'data',
                   fisher: [0.1, 0.2], random_mean: 0.5, random_std: 0.1}],
      alignment: ['proto', 'lin', 'bc', 'hel'].flatMap(k => [row(0, k, 'model', 0.99),
        row(2, k, 'model', 1.0)]).concat([row(0, 'lin', 'data', 0.3), row(2, 'lin', 'data', 0.5),
        row(0, 'proto', 'data', 0.4), row(2, 'proto', 'data', 0.6)])};
    const { specs, scalars } = m.sections.sectionView({spectral: sp}, 'spectral', 'Spectrum');
"""


def test_every_spectral_chart_links_to_an_existing_methods_section(ui: UI) -> None:
    out = run(ui, SUITE + "return specs.map(s => [s.id, s.help ?? null]);")
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', METHODS.read_text(encoding="utf-8")))
    assert len(out) >= 10
    for spec_id, anchor in out:
        assert anchor in anchors, (spec_id, anchor)


def test_kernels_are_labelled_and_model_side_lines_are_distinguishable(ui: UI) -> None:
    out = run(
        ui,
        SUITE
        + """
        const model = specs.find(s => s.id === 'spectral.alignment_model');
        const lift = specs.find(s => s.id === 'spectral.lift');
        const dir = specs.find(s => s.id === 'spectral.dirichlet');
        return {
          modelA: model.traces.filter(t => t.name.startsWith('A,')).map(t => t.dash ?? null),
          liftNames: lift.traces.map(t => t.name),
          dirichlet: [dir.title, dir.note],
          scalars: scalars.map(r => r[0]).filter(n => n.includes('Lift')),
        };
        """,
    )
    # Four overlapping model-side A lines (all ≈ 1): four different dash styles.
    assert len(out["modelA"]) == 4 and len(set(out["modelA"])) == 4
    names = " | ".join(out["liftNames"])
    assert "data-side K_lin (model-free)" in names
    assert "data-side K_proto (own prototypes)" in names
    assert "layer-2 Fisher" in out["dirichlet"][0] and "layer 2" in out["dirichlet"][1]
    # The model-free lift is listed first among the numbers, the own-prototype one labelled.
    assert "model-free" in out["scalars"][0] and "own prototypes" in out["scalars"][1]


def test_spectral_legends_fit_above_the_plot_area(ui: UI) -> None:
    """Drawn at the page's width, each spectral chart's legend lies inside its figure and
    above the plot area: the longer kernel labels must not spill over the data."""
    out = run(
        ui,
        SUITE
        + """
        const host = document.createElement('div');
        host.style.width = '640px';
        document.body.append(host);
        m.charts.renderCharts(host, specs);
        // Wait for what a reader sees: every chart's plot area drawn (not a fixed delay,
        // which a loaded machine outlasts before Plotly has even loaded).
        const figs = () => [...host.querySelectorAll('figure.chart')];
        const drawn = () => figs().length === specs.length
          && figs().every(fig => fig.querySelector('.js-plotly-plot .nsewdrag'));
        for (const t0 = Date.now(); !drawn(); ) {
          if (Date.now() - t0 > 60000) return {undrawn: figs().filter(
            fig => !fig.querySelector('.js-plotly-plot .nsewdrag')).map(f => f.dataset.chartId)};
          await new Promise(r => requestAnimationFrame(r));
        }
        return figs().map(fig => {
          const plot = fig.querySelector('.js-plotly-plot').getBoundingClientRect();
          const legend = fig.querySelector('g.legend')?.getBoundingClientRect();
          const area = fig.querySelector('.nsewdrag')?.getBoundingClientRect();
          return {id: fig.dataset.chartId, plotTop: plot.top, plotRight: plot.right,
                  legend: legend ? [legend.top, legend.bottom, legend.right] : null,
                  areaTop: area ? area.top : null};
        });
        """,
    )
    assert isinstance(out, list) and out, out
    for chart in out:
        if chart["legend"] is None:
            continue
        top, bottom, right = chart["legend"]
        assert top >= chart["plotTop"] - 1, chart
        assert right <= chart["plotRight"] + 1, chart
        assert bottom <= chart["areaTop"] + 1, chart
