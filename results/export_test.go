package results

// ReadResultsWithLimit exposes the size limit of Read to tests.
var ReadWithLimit = read
