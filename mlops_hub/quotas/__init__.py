"""Admin-editable role quotas and team pools, kept in the hub's database.

store.py   SQLAlchemy tables (created and migrated automatically), versioned rows, audit log
service.py the hub process's admission: pool usage, the lock around check + reserve
api.py     REST handlers under /hub/api/mlops/quotas
page.py    the admin page /hub/mlops/quotas
hubconfig.py  wiring into jupyterhub_config.py (handlers, custom scope, templates)
"""
