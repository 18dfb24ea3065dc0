#pragma once

namespace nahanni {

// The whole emulator: returns the process exit status.
int vl_main(int argc, char** argv);

}  // namespace nahanni
