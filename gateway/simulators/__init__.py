"""Device simulators: terminals that real client libraries talk to over real sockets, for tests and demos."""
