// Verifies captured webhook deliveries with the standardwebhooks npm package (the library the
// README's TypeScript receiver uses): reads [{secret, headers, body}] as JSON on stdin, exits 1 at
// the first delivery it refuses. Run by tests/api/webhooks.rs with NODE_PATH at a folder holding
// the package, when SHUANGBAI_WEBHOOK_NODE_MODULES names one (CI sets it).
const { Webhook } = require("standardwebhooks");

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const captured = JSON.parse(input);
  captured.forEach((c, n) => {
    try {
      new Webhook(c.secret).verify(c.body, c.headers);
    } catch (e) {
      console.log(`delivery ${n} (${c.headers["webhook-id"]}) refused: ${e}`);
      process.exit(1);
    }
  });
  console.log(`standardwebhooks (npm) verified ${captured.length} deliveries`);
});
