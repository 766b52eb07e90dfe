"""FGM Enhanced Dataset records: reading providers' monthly submissions and checking each row."""
