// Package statetest runs a real redis-server for tests of the shared state.
package statetest
