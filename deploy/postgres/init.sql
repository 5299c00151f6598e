-- Read-model database for the services (one database, tables named per service).
CREATE DATABASE pathways_readmodels;
