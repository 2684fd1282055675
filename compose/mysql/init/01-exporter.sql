-- The account mysqld-exporter reads MySQL's status with (the grants its README asks for), capped at 3 connections
-- so it can never be the one that fills max_connections.
CREATE USER IF NOT EXISTS 'exporter'@'%' IDENTIFIED BY 'exporter' WITH MAX_USER_CONNECTIONS 3;
GRANT PROCESS, REPLICATION CLIENT, SELECT ON *.* TO 'exporter'@'%';
FLUSH PRIVILEGES;
