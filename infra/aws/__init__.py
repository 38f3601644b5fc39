"""AWS layer of the Pulumi program: one ComponentResource per concern, an explicit provider per region."""
