"""The ``smsverify`` command line, above the engine, the service, the model and the reports."""
