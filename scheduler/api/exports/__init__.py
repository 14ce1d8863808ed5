"""Downloads of the execution history that stream: rows are read a page at a time
(`keyset`) and rendered as they arrive (`csv_file`, `pdf_report`), so a download of any
length holds about one page of rows in memory and no transaction between pages. A
download goes out as the response or, written to the export store, as a link to it
(`delivery` decides, `links` answers)."""

__all__ = ["csv_file", "delivery", "keyset", "links", "pdf_report"]
