-- Which HTTP Signature scheme each remote host signed its verified requests
-- with (draft-cavage-http-signatures-12 or rfc9421), and when.
CREATE TABLE host_signature_schemes (
    host     TEXT NOT NULL,
    scheme   TEXT NOT NULL,
    first_at BIGINT NOT NULL,
    last_at  BIGINT NOT NULL,
    PRIMARY KEY (host, scheme)
);
