"""``imagevec serve``: the HTTP API and the web search page over one query service.

:func:`~imagevec.serve.app.create_app` builds the ASGI app (FastAPI routes behind
:class:`~imagevec.serve.security.Gate`); the page is plain static files in ``static/``
(no build step, no CDN). Needs the ``serve`` extra (``pip install "imagevec[serve]"``).
"""
