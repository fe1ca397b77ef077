"""Reports: the PDF chain-of-custody report and the CASE/UCO JSON-LD export."""
