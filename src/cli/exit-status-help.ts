import { EXIT } from './exit-codes.js';

/** The exit statuses, as `baton --help` ends. */
export const EXIT_STATUS_HELP = `
Exit status:
  ${EXIT.ok}    done
  ${EXIT.refused}    the coordinator refused the request (its message is printed), or serve could not start
  ${EXIT.usage}    bad command line or input file: nothing was sent
  ${EXIT.notFound}    no such task
  ${EXIT.unreachable}    no coordinator answered at the URL
  ${EXIT.incomplete}    watch: the graph settled with tasks that failed or were cancelled
  ${EXIT.interrupted}  interrupted
`;
