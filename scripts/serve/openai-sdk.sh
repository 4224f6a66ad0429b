echo "skipped: not written yet"
