-- The account mysqld-exporter reads MySQL's status with (the grants its README asks for), capped at 3 connections
-- so it can never be the one that fills max_connections. CONNECTION_ADMIN lets it use the one connection MySQL keeps
-- beyond max_connections for administrators: without it the exporter is refused (1040) exactly when the server is
-- full, and the "threads connected vs max_connections" panel goes blank at the moment it matters.
CREATE USER IF NOT EXISTS 'exporter'@'%' IDENTIFIED BY 'exporter' WITH MAX_USER_CONNECTIONS 3;
GRANT PROCESS, REPLICATION CLIENT, SELECT ON *.* TO 'exporter'@'%';
GRANT CONNECTION_ADMIN ON *.* TO 'exporter'@'%';
FLUSH PRIVILEGES;
