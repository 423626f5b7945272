"""`zeta-console bench`: replay seeded traces against emulated fleets and compare routing policies."""
