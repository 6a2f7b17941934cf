"""``portalnews web``: the analysts' web app (Starlette, Jinja2 with autoescape, uvicorn).

One module per job:

* :mod:`.app` builds the application (:func:`create_app`) from a store URL and a token;
* :mod:`.params` reads the parameters that the search page, ``/api/search`` and ``/export``
  share, and names the one that is wrong;
* :mod:`.storeholder` opens the store read-only (never creates one) and turns an unusable
  store into a 503 page while the app keeps running;
* :mod:`.pages` renders ``/``, ``/article/{id}`` and ``/coverage``; :mod:`.charts` computes
  the geometry of their inline SVG charts;
* :mod:`.api` answers ``/api/search``; :mod:`.export` streams ``/export``;
* :mod:`.security` checks the token and sets the security headers on every answer.
"""
