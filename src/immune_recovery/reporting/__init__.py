"""Report pipeline: parameter files, notebook execution, the manifest and the index page.

* :mod:`.spec` reads ``params/<report-id>.yaml``;
* :mod:`.build` executes a report's notebook with papermill into a staging folder and moves
  the finished report into ``reports/<report-id>/`` only when everything succeeded;
* :mod:`.site` writes ``reports/manifest.json`` and ``reports/index.html``;
* :mod:`.notebook` holds what a report notebook calls (tables, figures, provenance).
"""
