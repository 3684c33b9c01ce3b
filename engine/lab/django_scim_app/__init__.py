"""A tiny Django project serving django-scim2 (PyPI, 15five) for the lab: ``server.py`` runs it."""
