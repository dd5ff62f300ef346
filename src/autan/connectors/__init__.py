"""Drive connectors: a WebDAV folder (Nextcloud, La Suite's Fichiers, a file server) kept in
step with a collection through the documents' own ingestion."""
