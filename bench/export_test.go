package bench

// ReadResultsWithLimit exposes the size limit of ReadResults to tests.
var ReadResultsWithLimit = readResults
