"""Scoring whole corpora: input lists, output records, a resumable writer, the shared run
loop with its local engine, and the Ray engine (`mmmos_core.batch.ray_engine`, optional)."""

from .inputs import item_key, read_input_list
from .records import (
           CSV_HEAD,
           csv_columns,
           flatten_record,
           read_output_records,
           result_record,
           score_items,
)
from .runner import BatchSummary, run_batch, run_local_predict
from .writer import ResumableWriter

__all__ = ["CSV_HEAD", "BatchSummary", "ResumableWriter", "csv_columns", "flatten_record", "item_key",
           "read_input_list", "read_output_records", "result_record", "run_batch", "run_local_predict",
           "score_items"]
