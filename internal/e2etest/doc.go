// Package e2etest runs the commands together in-process, as an operator
// would: enqueue, worker, campaign and dashboard against a real Redis and
// the Sinch simulator. It holds only tests.
package e2etest
