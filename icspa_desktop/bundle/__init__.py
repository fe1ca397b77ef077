"""The sharing-bundle format (DESIGN §5): age v1 over a pax tar of a signed BagIt 1.0 bag. Qt-free, vault-free."""
