"""The lab's Django app: django-scim2's mixins on a user and a group (``../serve.py`` runs it)."""
