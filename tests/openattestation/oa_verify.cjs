// Runs OpenAttestation's own verifier (@govtechsg/oa-verify) on one wrapped document.
// usage: node oa_verify.cjs DOCUMENT.json RPC_URL 'TXT RECORD' ...
// The DNS-TXT identity check is answered by an injected resolver with the records given (the
// issuer's, as it would publish them), so nothing is asked of a public DNS server.
// Prints {"valid": bool, "fragments": [...]} on stdout; exit 0 when valid, 1 otherwise.
const fs = require("fs");
const { providers } = require("ethers");
const { isValid, openAttestationVerifiers, verificationBuilder } = require("@govtechsg/oa-verify");

async function main() {
  const [documentPath, rpcUrl, ...records] = process.argv.slice(2);
  const document = JSON.parse(fs.readFileSync(documentPath, "utf8"));
  const resolver = async (domain) => ({
    AD: false,
    Answer: records.map((data) => ({ name: domain, type: 16, TTL: 300, data: `"${data}"` })),
  });
  const verify = verificationBuilder(openAttestationVerifiers, {
    provider: new providers.JsonRpcProvider(rpcUrl),
    dnsResolvers: [resolver],
  });
  const fragments = await verify(document);
  const valid = isValid(fragments);
  process.stdout.write(JSON.stringify({ valid, fragments }) + "\n");
  process.exit(valid ? 0 : 1);
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(2);
});
