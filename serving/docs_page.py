"""The API's docs page: Swagger UI from the files BentoML ships, and nothing else — no tag manager, no CDN.

BentoML's own page loads Google Tag Manager into the browser of whoever opens
it; this one loads only the service's own static files and ``/docs.json``.
"""

from __future__ import annotations

DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Churn prediction and retention API</title>
  <link rel="stylesheet" type="text/css" href="./static_content/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="./static_content/swagger-ui-bundle.js" charset="utf-8"></script>
  <script src="./static_content/swagger-ui-standalone-preset.js" charset="utf-8"></script>
  <script src="./static_content/swagger-initializer.js" charset="utf-8"></script>
</body>
</html>
"""
