// Package tpm owns the TPM-bound stamping key and sealed secrets of a terminal, on
// github.com/google/go-tpm's tpm2 direct API.
//
// A KeyStore keeps, in one state directory, only TPM blobs: the current stamping key,
// at most one pending key (made for a CSID renewal and not yet activated), and named
// sealed secrets. Two key types exist (Config.KeyType):
//
//   - KeySealedSecp256k1 (default): ZATCA's curve, which no TPM implements. The key is
//     generated from crypto/rand mixed with TPM2_GetRandom, sealed at once as a keyedhash
//     object under the storage root key (fixedTPM|fixedParent, policy PolicyAuthValue,
//     optionally preceded by PolicyPCR), and unsealed once at Open into locked,
//     dump-excluded memory (hsm/softkey); signing happens in process.
//   - KeyNativeP256: a non-exportable TPM ECC P-256 key (fixedTPM|fixedParent|
//     sensitiveDataOrigin|userWithAuth|sign); every signature is a TPM2_Sign.
//
// Activation data. Every object's authValue is HMAC-SHA256(Config.ActivationSecret,
// per-blob salt), so it is never stored: a copy of the state directory is useless
// without the board secret, and on another TPM it is useless anyway (fixedTPM, and the
// storage root key differs). The trade-off: the board secret must reach the daemon
// (from the board profile, a file readable only by the daemon's user, or a
// provisioning step); whoever can read it and talk to this TPM can unseal the blobs.
// Objects are noDA by default, because TPM 2.0 counts every power cut after a
// DA-protected use as a failed authorization, and with a TPM's typical three tries a
// terminal would lock itself out after a few power failures; the activation secret
// must therefore carry the entropy (Validate requires at least 16 bytes when set).
// Config.DictionaryAttackProtection turns DA protection on.
//
// Transports are chosen by a spec string: "dev:/dev/tpmrm0" (preferred: the kernel's
// resource manager), "dev:/dev/tpm0", "tcp:127.0.0.1:2321" (swtpm's data port, raw
// command frames) and "unix:/path" (swtpm --server type=unixio). "" tries /dev/tpmrm0,
// then /dev/tpm0. Commands answered with TPM_RC_RETRY, YIELDED or TESTING are resent
// with backoff; one mutex serialises all TPM work; every transient handle (primary
// key, loaded object, session) is flushed before an operation returns, so nothing
// leaks on TPMs without a resource manager.
//
// Process hardening: Open makes the process non-dumpable (PR_SET_DUMPABLE 0). No
// function, method or log line returns or prints a private key or a secret's value
// (Unseal returns the secret to its caller, who zeroes it).
//
// Package tpm imports hsm, hsm/softkey, go-tpm, decred secp256k1, golang.org/x/crypto
// and golang.org/x/sys. It must not import agent, store, printer, offline, board or any
// *test package.
package tpm
