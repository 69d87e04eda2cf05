"""The AMI listener: turns a PBX's event stream into one decided row per call."""
