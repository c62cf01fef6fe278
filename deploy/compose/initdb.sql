-- Run once by the postgres image's entrypoint, when its data volume is empty:
-- one database per project (compose.yml gives each project its DATABASE_URL).
-- deploy/compose/migrate.sh also creates a missing one (manage.py ensure_database), so a database
-- added later works on an existing volume too.
CREATE DATABASE food_auth;
CREATE DATABASE food_catalog;
CREATE DATABASE food_orders;
CREATE DATABASE food_payments;
CREATE DATABASE food_delivery;
CREATE DATABASE food_gateway;
