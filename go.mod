module github.com/posagent/posagent

go 1.26.8

require (
	github.com/beevik/etree v1.8.1
	github.com/decred/dcrd/dcrec/secp256k1/v4 v4.4.1
	github.com/go-text/typesetting v0.3.5
	github.com/google/go-tpm v0.9.8
	github.com/mattn/go-sqlite3 v1.14.53
	github.com/shopspring/decimal v1.6.0
	github.com/skip2/go-qrcode v0.0.0-20200617195104-da1b6568686e
	github.com/tarm/serial v0.0.0-20180830185346-98f6abe2eb07
	golang.org/x/crypto v0.58.0
	golang.org/x/image v0.23.0
	golang.org/x/sys v0.49.0
)
