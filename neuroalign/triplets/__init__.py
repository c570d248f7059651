"""Triplet (odd-one-out) studies: scoring models against human choices, ceilings, alignment probes, designs."""
