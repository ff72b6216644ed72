#!/bin/sh
# Runs once, when compose.yaml's PostgreSQL starts on an empty volume: the roles the
# migrations expect (as migration 0001 would make them) and the server's login role,
# which has no rights of its own (NOINHERIT) until a transaction switches role.
set -eu
psql -v ON_ERROR_STOP=1 -v app_password="$FOCUSHUB_APP_PASSWORD" \
    --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE anon NOLOGIN NOINHERIT;
CREATE ROLE authenticated NOLOGIN NOINHERIT;
CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
CREATE ROLE focushub_app LOGIN NOINHERIT NOBYPASSRLS PASSWORD :'app_password';
GRANT anon, authenticated, service_role TO focushub_app;
SQL
