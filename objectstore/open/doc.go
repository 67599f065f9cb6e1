// Package open turns an object-store URL (see objectstore.URLForms) into a
// Store, choosing the backend by scheme. It is the one place that imports
// every backend; the node and the CLI call Open with the --object-store
// URL.
package open
