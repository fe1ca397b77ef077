"""Plain data of the application: typed ids, closed sets, records and errors. No I/O."""
