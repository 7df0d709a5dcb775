"""Everything that defines bytes: canonical JSON, DSSE envelopes, keys and certificates, record field tables,
the journal, the content commitment, codec configuration, file layout and the finding codes."""
