# Prints each failed test of a TRX file with the first lines of its message, so CI's tail names what failed.
/<UnitTestResult / {
  failed = ($0 ~ /outcome="Failed"/)
  if (failed) { match($0, /testName="[^"]*"/); print "FAILED " substr($0, RSTART + 10, RLENGTH - 11) }
  inmsg = 0; lines = 0
}
failed && /<Message>/ { inmsg = 1; sub(/.*<Message>/, "") }
failed && inmsg {
  done = sub(/<\/Message>.*/, "")
  if (lines < 15) print "  " $0
  lines++
  if (done) inmsg = 0
}
