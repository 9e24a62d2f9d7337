"""Admin-editable role quotas and team pools, kept in the hub's database.

store.py   SQLAlchemy tables (created and migrated automatically), versioned rows, audit log
service.py the hub process's admission: pool usage, the lock around check + reserve

The REST API and the admin page that edit them live in mlops_hub.hub (quota_api, quota_page).
"""
